import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Problems } from './parse.ts';
import { passwordHashCost } from './password-hash-cost.ts';

const read = (env: Record<string, string>) => {
  const problems = new Problems();
  return { cost: passwordHashCost(env, problems), problems: problems.list };
};

test('PASSWORD_HASH_COST: 17 (OWASP\'s scrypt N=2^17) unless set; 14 to 20 outside production', () => {
  assert.deepEqual(read({}), { cost: 17, problems: [] });
  assert.deepEqual(read({ PASSWORD_HASH_COST: '14' }), { cost: 14, problems: [] });
  assert.deepEqual(read({ PASSWORD_HASH_COST: '20', NODE_ENV: 'production' }), { cost: 20, problems: [] });
  for (const bad of ['13', '21', 'fast']) {
    assert.deepEqual(read({ PASSWORD_HASH_COST: bad }), { cost: 17, problems: [`PASSWORD_HASH_COST=${bad}: must be a whole number from 14 to 20`] });
  }
});

test('PASSWORD_HASH_COST below 17 is refused in production, in one line naming the variable', () => {
  assert.deepEqual(read({ PASSWORD_HASH_COST: '14', NODE_ENV: 'production' }), {
    cost: 17, problems: ["PASSWORD_HASH_COST=14: is for tests only below 17 (OWASP's scrypt N=2^17); unset it in production"],
  });
});
