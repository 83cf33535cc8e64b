// A first session with Pemba's OpenFGA API through the unmodified @openfga/sdk.
//   npx pemba serve --openfga-enabled --grpc-preshared-key somerandomkeyhere
//   FGA_API_TOKEN=somerandomkeyhere node examples/openfga/first-session.mjs
import { CredentialsMethod, OpenFgaClient } from '@openfga/sdk';
import { transformer } from '@openfga/syntax-transformer';

const credentials = { method: CredentialsMethod.ApiToken, config: { token: process.env.FGA_API_TOKEN ?? '' } };
const apiUrl = process.env.FGA_API_URL ?? 'http://localhost:8080';
let fga = new OpenFgaClient({ apiUrl, credentials });

const { id: storeId } = await fga.createStore({ name: 'first-session' });
fga = new OpenFgaClient({ apiUrl, storeId, credentials });

const model = transformer.transformDSLToJSONObject(`model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type document
  relations
    define owner: [user]
    define viewer: [user, user:*, group#member] or owner`);
const { authorization_model_id: modelId } = await fga.writeAuthorizationModel(model);
fga = new OpenFgaClient({ apiUrl, storeId, authorizationModelId: modelId, credentials });

await fga.writeTuples([
  { user: 'user:anne', relation: 'member', object: 'group:eng' },
  { user: 'group:eng#member', relation: 'viewer', object: 'document:roadmap' },
  { user: 'user:bob', relation: 'owner', object: 'document:roadmap' },
]);

const { allowed } = await fga.check({ user: 'user:anne', relation: 'viewer', object: 'document:roadmap' });
console.log('anne may view the roadmap:', allowed);
const { objects } = await fga.listObjects({ user: 'user:anne', relation: 'viewer', type: 'document' });
console.log('documents anne may view:', objects);
const { users } = await fga.listUsers({
  object: { type: 'document', id: 'roadmap' },
  relation: 'viewer',
  user_filters: [{ type: 'user' }],
});
console.log(
  'users who may view the roadmap:',
  users.map((u) => `${u.object.type}:${u.object.id}`),
);
await fga.deleteStore();
