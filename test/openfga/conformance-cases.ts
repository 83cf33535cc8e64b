/**
 * Where OpenFGA's own test cases are read from: PEMBA_OPENFGA_CONFORMANCE_DIR when set (a folder of
 * case files, e.g. OpenFGA's complete assets/tests), otherwise test/fixtures/openfga-conformance (the
 * cases of ../shared/conformance/openfga, copied into the repository so that a clean clone has them).
 */
import { fileURLToPath } from 'node:url';

export const CONFORMANCE_DIR =
  process.env.PEMBA_OPENFGA_CONFORMANCE_DIR ??
  fileURLToPath(new URL('../fixtures/openfga-conformance/', import.meta.url));
