/** The catalog's refusals of writes to what does not exist (the service checks first; a race may still meet them). */
import { notFound } from '../../errors/index.js';

/** NOT_FOUND for a write to a store that does not exist (or was deleted). */
export function unknownStore(storeId: string) {
  return notFound(`store ${storeId} not found`);
}

/** NOT_FOUND for assertions of a model the store does not have. */
export function unknownModel(storeId: string, modelId: string) {
  return notFound(`authorization model ${modelId} not found in store ${storeId}`);
}
