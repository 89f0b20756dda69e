import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { parsePluginMap } from '../gateway/plugin/pluginMap.js';

test('parses name=port pairs, ignoring surrounding whitespace', () => {
  assert.equal([...parsePluginMap('web=8080')], [['web', 8080]]);
  assert.equal([...parsePluginMap('a=1, b_2 = 65535 ,C-3=3000')], [['a', 1], ['b_2', 65535], ['C-3', 3000]]);
});

const bad: Array<[string, RegExp]> = [
  ['', /empty/],
  ['   ', /empty/],
  ['web', /not "name=port"/],
  ['web=8080,', /not "name=port"/],
  [',web=8080', /not "name=port"/],
  ['=8080', /Plugin name ""/],
  ['../x=8080', /must match/],
  ['we b=8080', /must match/],
  ['café=8080', /must match/],
  ['web=', /port ""/],
  ['web=0', /1 to 65535/],
  ['web=65536', /1 to 65535/],
  ['web=80.5', /1 to 65535/],
  ['web=-1', /1 to 65535/],
  ['web=0x50', /1 to 65535/],
  ['web=1e3', /1 to 65535/],
  ['web=8080=1', /1 to 65535/],
  ['web=1,web=2', /more than once/],
];

for (const [spec, message] of bad) {
  test(`rejects ${JSON.stringify(spec)} with a TypeError`, () => {
    try {
      parsePluginMap(spec);
    } catch (error) {
      assert.instance(error, TypeError);
      assert.match((error as Error).message, message);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(spec)}`);
  });
}

test.run();
