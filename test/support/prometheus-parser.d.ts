/** Types for the small Prometheus text-format parser used by the metrics tests. */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
