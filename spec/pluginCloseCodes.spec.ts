import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { closeForClient, closeForUpstream, PLUGIN_CLOSE } from '../machines/pluginTunnel.closeCodes.js';

/** The table docs/PLUGINS.md documents: what one leg's close becomes on the other leg. */
const TABLE: Array<[number, object, object]> = [
  // code from the peer, what the client gets (from upstream), what the upstream gets (from client)
  [1000, { code: 1000, reason: 'r' }, { code: 1000, reason: 'r' }],
  [1001, { code: 1001, reason: 'r' }, { code: 1001, reason: 'r' }],
  [4000, { code: 4000, reason: 'r' }, { code: 4000, reason: 'r' }],
  [4321, { code: 4321, reason: 'r' }, { code: 4321, reason: 'r' }],
  [4999, { code: 4999, reason: 'r' }, { code: 4999, reason: 'r' }],
  [1005, {}, {}],
  [1006, { code: 1011, reason: 'Upstream closed abnormally' }, { code: 1001, reason: 'Client went away' }],
  [1002, { code: 1011, reason: 'Upstream closed with 1002' }, { code: 1011, reason: 'Client closed with 1002' }],
  [1009, { code: 1011, reason: 'Upstream closed with 1009' }, { code: 1011, reason: 'Client closed with 1009' }],
  [1011, { code: 1011, reason: 'Upstream closed with 1011' }, { code: 1011, reason: 'Client closed with 1011' }],
  [3000, { code: 1011, reason: 'Upstream closed with 3000' }, { code: 1011, reason: 'Client closed with 3000' }],
];

test('close-code mapping table', () => {
  for (const [code, toClient, toUpstream] of TABLE) {
    assert.equal(closeForClient(code, 'r'), toClient, `upstream ${code}`);
    assert.equal(closeForUpstream(code, 'r'), toUpstream, `client ${code}`);
  }
});

test('gateway-chosen codes are the documented ones', () => {
  assert.equal(
    Object.values(PLUGIN_CLOSE).map((c) => c.code),
    [4400, 4404, 4502, 4504, 1008, 1001],
  );
});

test.run();
