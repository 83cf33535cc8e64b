import { runDatastoreContract } from './contract.js';
import { useTestPostgres } from './postgres-harness.js';

const postgres = useTestPostgres();

runDatastoreContract({ backend: 'postgres' }, (settings) => postgres.open(settings));
runDatastoreContract({ backend: 'postgres', variant: 'no quantization', clockTests: false }, (settings) =>
  postgres.open({ quantizationMs: 0, ...settings }),
);
