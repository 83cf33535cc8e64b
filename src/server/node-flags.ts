/**
 * The Node flags `pemba serve` runs with: the `pemba` command's shebang passes them (src/cli/main.ts;
 * test/server/node-flags.test.ts keeps the two the same), and the benchmarks start their servers with
 * them. 16 MiB semi-spaces: most of what a call allocates dies young, and fewer scavenges cut the
 * server's CPU per call by about a fifth (bench/server-cpu.ts).
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16'];
