/** A configuration that cannot be used: its message names the key (and line) or the file at fault. */
export class ConfigError extends Error {}
