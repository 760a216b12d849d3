/**
 * The console's only assets, served by Barge itself (no CDN: the console works offline). The
 * script is external so the Content-Security-Policy can forbid inline scripts altogether.
 */
export const CSS = `
:root { --ink:#1d2733; --muted:#5c6b7a; --line:#d8dee6; --bg:#f4f6f9; --accent:#1f5fa8; --ok:#1d7a46; --warn:#a86a00; --bad:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#16324f; color:#fff; padding:10px 20px; display:flex; align-items:center; gap:16px; }
header .brand { font-weight:700; font-size:16px; letter-spacing:.5px; }
header .host { color:#b8c7d9; }
header form { margin-left:auto; }
header button { background:transparent; color:#fff; border:1px solid #6f8aa8; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:0 20px; display:flex; gap:4px; flex-wrap:wrap; }
nav a { padding:10px 12px; color:var(--muted); text-decoration:none; border-bottom:2px solid transparent; }
nav a.on { color:var(--accent); border-bottom-color:var(--accent); font-weight:600; }
main { padding:20px; max-width:1280px; }
h1 { font-size:20px; margin:0 0 16px; }
h2 { font-size:16px; margin:24px 0 8px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(190px,1fr)); gap:12px; margin-bottom:16px; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:12px 14px; }
.card .n { font-size:24px; font-weight:700; }
.card .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef2f6; font-weight:600; font-size:12px; color:#34495e; }
a { color:var(--accent); }
td.when { white-space:nowrap; }
.scroll { overflow-x:auto; } .scroll table { width:auto; min-width:100%; }
.scroll td, .scroll th { white-space:nowrap; }
.scroll td.wrap { white-space:normal; word-break:break-all; min-width:280px; max-width:560px; }
.masks { display:grid; grid-template-columns:repeat(auto-fill,minmax(330px,1fr)); gap:12px; margin-bottom:8px; }
.masks .l { text-transform:none; font-size:13px; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; word-break:break-all; }
pre { background:#fff; border:1px solid var(--line); padding:10px; overflow:auto; font-size:12.5px; }
form.inline { display:inline; }
form.filters { display:flex; gap:8px; align-items:end; flex-wrap:wrap; margin-bottom:12px; background:#fff; border:1px solid var(--line); padding:10px; border-radius:6px; }
label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select { font:inherit; padding:5px 7px; border:1px solid #b9c3cf; border-radius:4px; background:#fff; }
button { font:inherit; padding:5px 12px; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:4px; cursor:pointer; }
button.plain { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
.pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#e7ecf2; }
.pill.ok { background:#dff3e7; color:var(--ok); } .pill.warn { background:#fdf0d8; color:var(--warn); } .pill.bad { background:#fbe3e1; color:var(--bad); }
.flash { padding:8px 12px; border-radius:4px; margin-bottom:12px; background:#e6f0fb; border:1px solid #b7d0ee; }
.flash.error { background:#fbe3e1; border-color:#efb7b1; }
.muted { color:var(--muted); }
.pager { margin:10px 0; display:flex; gap:10px; align-items:center; }
.switches { display:grid; grid-template-columns:repeat(auto-fill,minmax(300px,1fr)); gap:6px 16px; margin:10px 0; }
.switches label { flex-direction:row; align-items:center; gap:8px; color:var(--ink); font-size:14px; }
.mask { font-size:22px; font-weight:700; font-family: ui-monospace, Menlo, Consolas, monospace; }
.login { max-width:360px; margin:80px auto; background:#fff; border:1px solid var(--line); border-radius:8px; padding:24px; }
.login form { display:flex; flex-direction:column; gap:12px; }
svg.chart { background:#fff; border:1px solid var(--line); border-radius:6px; }
.legend span { margin-right:14px; font-size:12px; }
`;

/** Confirmation for dangerous buttons and the listener page's live bitmask and EHLO preview. */
export const SCRIPT = `
document.addEventListener('submit', (e) => {
  const b = e.submitter;
  const text = b && b.dataset.confirm;
  if (text && !window.confirm(text)) e.preventDefault();
});
for (const form of document.querySelectorAll('form[data-listener]')) {
  const update = async () => {
    const body = new URLSearchParams(new FormData(form));
    const r = await fetch(form.dataset.preview, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    if (!r.ok) return;
    const v = await r.json();
    form.querySelector('[data-inbound]').textContent = String(v.inbound);
    form.querySelector('[data-outbound]').textContent = String(v.outbound);
    form.querySelector('[data-ehlo]').textContent = v.ehlo;
  };
  form.addEventListener('change', update);
}
`;
