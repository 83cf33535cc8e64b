/** Builds the playground into `outdir` (default dist/playground); returns each file's size in bytes. */
export function buildPlayground(options?: { outdir?: string; minify?: boolean }): Promise<Record<string, number>>;
