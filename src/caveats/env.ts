/**
 * The run-time CEL environment shared by all caveats: @bufbuild/cel's standard library with SpiceDB's
 * `ipaddress.in_cidr(string)`, cel-go's semantics where they differ, and cost metering.
 */
import { celEnv, celMethod, CelScalar, objectType, type CelEnv } from '@bufbuild/cel';
import type { ReflectMessage } from '@bufbuild/protobuf/reflect';
import { celGoFunctions } from './cel-go-compat.js';
import { parseIpAddress, parseIpPrefix, prefixContains } from './ipaddress.js';
import { meteringFunctions } from './metering.js';
import { ipAddressText, ipRegistry, IpAddressSchema } from './values.js';

export { APPEND, TICK } from './metering.js';

/** SpiceDB's one custom function. */
const inCidr = celMethod(
  'in_cidr',
  objectType(IpAddressSchema),
  [CelScalar.STRING],
  CelScalar.BOOL,
  function (this: ReflectMessage, cidr: string) {
    let prefix;
    try {
      prefix = parseIpPrefix(cidr);
    } catch {
      throw new Error(`invalid CIDR string: \`${cidr}\``);
    }
    return prefixContains(prefix, parseIpAddress(ipAddressText(this)));
  },
);

export const runtimeEnv: CelEnv = celEnv({
  registry: ipRegistry,
  funcs: [inCidr, ...meteringFunctions, ...celGoFunctions],
});
