import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { parsePluginName } from '../gateway/plugin/pluginName.js';
import { connectClient, startPluginHarness, type PluginHarness } from './support/pluginHarness.js';
import { rawUpgradeCloseStatus } from './support/pluginRawClient.js';

/** Plugin names: the pure parser, then the same paths over real sockets (4400 before any lookup). */
const test = suite('plugin name validation');

const INVALID = [
  '/plugin-ws/',
  '/plugin-ws/../x',
  '/plugin-ws/..%2Fx',
  '/plugin-ws/a%2Fb',
  '/plugin-ws/%2F',
  '/plugin-ws/caf%C3%A9',
  '/plugin-ws/café',
  '/plugin-ws/a/b',
  '/plugin-ws/a/',
  '/plugin-ws/a.b',
  '/plugin-ws/a b',
  '/plugin-ws//a',
  '/plugin-wsx/a',
  '/plugin-ws',
];

test('parsePluginName accepts exactly one [a-zA-Z0-9_-]+ segment', () => {
  assert.is(parsePluginName('/plugin-ws/my_Plugin-2'), 'my_Plugin-2');
  assert.is(parsePluginName('/plugin-ws/x'), 'x');
  for (const path of INVALID) assert.is(parsePluginName(path), null, path);
});

let harness: PluginHarness;
let lookups: string[];

test.before.each(async () => {
  lookups = [];
  harness = await startPluginHarness({
    getPluginPort: (name) => {
      lookups.push(name);
      return null;
    },
  });
});
test.after.each(async () => {
  await harness.close();
});

test('percent-encoded, unicode, empty and nested names close 4400 over a ws client', async () => {
  for (const path of ['/plugin-ws/..%2Fx', '/plugin-ws/%2F', '/plugin-ws/café', '/plugin-ws/', '/plugin-ws/a/b']) {
    const status = await connectClient(harness.url(path)).closed;
    assert.equal(status, { code: 4400, reason: 'Invalid plugin name' }, path);
  }
  assert.equal(lookups, [], 'no lookup for an invalid name');
  assert.is(harness.tunnel(1), undefined, 'no tunnel actor for an invalid name');
});

test('a literal ../x path sent raw closes 4400', async () => {
  assert.equal(await rawUpgradeCloseStatus(harness.port, '/plugin-ws/../x'), { code: 4400, reason: 'Invalid plugin name' });
  assert.equal(await rawUpgradeCloseStatus(harness.port, '/plugin-ws/..'), { code: 4400, reason: 'Invalid plugin name' });
  assert.equal(lookups, []);
});

test('a valid name reaches the lookup (and 4404 when it is not running)', async () => {
  assert.equal(await rawUpgradeCloseStatus(harness.port, '/plugin-ws/good-name_1'), { code: 4404, reason: 'Plugin not running' });
  assert.equal(lookups, ['good-name_1']);
});

test.run();
