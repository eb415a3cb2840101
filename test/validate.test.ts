import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  booleanValue,
  clockValue,
  finiteNumberIn,
  functionValue,
  integerIn,
  MAX_TIMER_MS,
  nonEmptyString,
  oneOf,
  safeInteger,
  stringMatching,
  stringValue,
  timerMs,
} from '../src/base/validate.js';

const type = (message: string) => ({ name: 'TrafficSplitTypeError', code: 'ERR_SPLIT_INVALID_CONFIG', message });
const range = (message: string) => ({ name: 'TrafficSplitRangeError', code: 'ERR_SPLIT_INVALID_CONFIG', message });

describe('validators', () => {
  it('integers: a type error for a non-number, a range error for a fraction or a value out of range', () => {
    assert.equal(integerIn('port', 0, 0, 65535), 0);
    assert.equal(integerIn('port', 65535, 0, 65535), 65535);
    assert.throws(
      () => integerIn('port', '80', 0, 65535),
      type('port: expected an integer from 0 to 65535, got `"80"` (string)'),
    );
    assert.throws(
      () => integerIn('port', 1.5, 0, 65535),
      range('port: expected an integer from 0 to 65535, got `1.5` (number)'),
    );
    assert.throws(
      () => integerIn('port', 65536, 0, 65535),
      range('port: expected an integer from 0 to 65535, got `65536` (number)'),
    );
    assert.throws(
      () => integerIn('n', null, 1, 9, { unit: 'bytes' }),
      type('n: expected an integer number of bytes, got `null` (null)'),
    );
    assert.equal(MAX_TIMER_MS, 2147483647);
    assert.equal(timerMs('t', MAX_TIMER_MS, 0), MAX_TIMER_MS);
    assert.throws(
      () => timerMs('t', MAX_TIMER_MS + 1, 0),
      range('t: expected an integer from 0 to 2147483647, got `2147483648` (number)'),
    );
    assert.throws(
      () => timerMs('t', -1, 0, 'an integer from 0 (off) to 2147483647'),
      range('t: expected an integer from 0 (off) to 2147483647, got `-1` (number)'),
    );
    assert.throws(
      () => safeInteger('seed', 2 ** 53),
      range('seed: expected a safe integer, got `9007199254740992` (number)'),
    );
  });

  it('finite numbers: NaN and the infinities are out of range', () => {
    assert.equal(finiteNumberIn('w', 0.5, 0, 1), 0.5);
    for (const bad of [NaN, Infinity, -1]) {
      assert.throws(
        () => finiteNumberIn('w', bad, 0, 1),
        range(`w: expected a finite number from 0 to 1, got \`${bad}\` (number)`),
      );
    }
    assert.throws(
      () => finiteNumberIn('w', '1', 0, 1),
      type('w: expected a finite number from 0 to 1, got `"1"` (string)'),
    );
  });

  it('booleans, strings, choices, functions and clocks', () => {
    assert.throws(() => booleanValue('flag', 1), type('flag: expected a boolean, got `1` (number)'));
    assert.equal(stringValue('key', ''), '');
    assert.throws(() => stringValue('key', 1), type('key: expected a string, got `1` (number)'));
    assert.throws(
      () => nonEmptyString('host', '', 'a host name'),
      type('host: expected a host name, got `""` (string)'),
    );
    assert.throws(
      () => stringMatching('name', 'a b', /^\S+$/, 'one word'),
      type('name: expected one word, got `"a b"` (string)'),
    );
    assert.equal(oneOf('subset', 'v2', ['v1', 'v2']), 'v2');
    assert.throws(
      () => oneOf('subset', 'v3', ['v1', 'v2']),
      type('subset: expected one of v1, v2, got `"v3"` (string)'),
    );
    assert.throws(() => functionValue('onError', {}), type('onError: expected a function, got `{}` (object)'));
    assert.throws(
      () => clockValue('clock', 5),
      type('clock: expected an object with now(), setTimeout() and clearTimeout() methods, got `5` (number)'),
    );
    assert.throws(
      () => clockValue('clock', { now: () => 0, setTimeout: () => ({}) }),
      type('clock.clearTimeout: expected a function, got undefined'),
    );
  });
});
