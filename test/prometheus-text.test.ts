import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatValue, renderFamilies } from '../src/ops/telemetry/prometheus-text.js';

describe('Prometheus sample values', () => {
  it('drops the noise of binary arithmetic: 0.672 ms in seconds is 0.000672', () => {
    assert.equal(0.672 / 1000, 0.0006720000000000001);
    assert.equal(formatValue(0.672 / 1000), '0.000672');
    assert.equal(formatValue(0.1 + 0.2), '0.3');
    assert.equal(formatValue(1.1 * 3), '3.3');
    const text = renderFamilies([
      {
        name: 'x_seconds',
        type: 'summary',
        help: 'h',
        samples: [{ labels: { quantile: '0.5' }, value: 0.672 / 1000 }],
      },
    ]);
    assert.equal(text, '# HELP x_seconds h\n# TYPE x_seconds summary\nx_seconds{quantile="0.5"} 0.000672\n');
  });

  it('keeps every value that has 15 significant digits or fewer, integers whole, and the special values', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [2 ** 53 - 1, '9007199254740991'],
      [1e21, '1e+21'],
      [1.5e-7, '1.5e-7'],
      [0.123456789012345, '0.123456789012345'],
      [-2.5, '-2.5'],
      [1 / 3, '0.333333333333333'],
      [NaN, 'NaN'],
      [undefined as unknown as number, 'NaN'],
      [Infinity, '+Inf'],
      [-Infinity, '-Inf'],
    ];
    for (const [value, text] of cases) assert.equal(formatValue(value), text, String(value));
  });

  it('writes every finite value so that it parses back within 15 significant digits', () => {
    for (let i = 1; i <= 2000; i++) {
      const value = (i * 0.337) / 1000;
      const text = formatValue(value);
      assert.ok(!/\d{16,}/.test(text.replace('.', '')), text);
      assert.ok(Math.abs(Number(text) - value) <= Math.abs(value) * 1e-14, `${value} -> ${text}`);
    }
  });
});
