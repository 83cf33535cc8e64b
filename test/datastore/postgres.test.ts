import { runDatastoreContract } from './contract.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();

runDatastoreContract('postgres', () => postgres.open());
runDatastoreContract('postgres (no quantization)', () => postgres.open({ quantizationMs: 0 }));
