/**
 * Discrepancies the cross-check finds in the engine today, exactly as reported. Each is a bug to fix
 * in the engine, not in the test: when one stops occurring, conformance.test.ts fails until its entry
 * is deleted here; any discrepancy not listed fails it too.
 */
export const KNOWN_DISCREPANCIES: Record<string, string[]> = {};
