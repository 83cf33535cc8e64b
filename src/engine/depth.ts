/** Default of the most nested dispatches one query may need (past it: maxDepthExceeded in errors/catalogue.ts). */
export const DEFAULT_MAX_DEPTH = 50;
