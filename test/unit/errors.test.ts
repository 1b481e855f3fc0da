import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatZodError } from '../../lib/errors.js';

const Feedback = z
  .object({
    predictionId: z.string().uuid(),
    label: z.enum(['spam', 'ham']),
    inputs: z.array(z.string()).max(3, 'must hold at most 3 inputs').optional(),
  })
  .strict();
const explain = (input: unknown): string => {
  const parsed = Feedback.safeParse(input);
  return parsed.success ? '' : formatZodError(parsed.error, input);
};

describe('formatZodError', () => {
  it('says a field is missing, naming it and its rule', () => {
    expect(explain({ predictionId: '0190a5d0-ac96-774b-bcce-b30209900001' })).toBe(
      'label: Invalid option: expected one of "spam"|"ham" (missing)',
    );
  });

  it("gives an array's length, not a dump of its items", () => {
    expect(
      explain({
        predictionId: '0190a5d0-ac96-774b-bcce-b30209900001',
        label: 'spam',
        inputs: ['a', 'b', 'c', 'd'],
      }),
    ).toBe('inputs: must hold at most 3 inputs (got an array of 4)');
  });

  it('cuts a long value visibly, with an ellipsis', () => {
    const message = explain({ predictionId: 'x'.repeat(200), label: 'spam' });
    expect(message).toBe(`predictionId: Invalid UUID (got "${'x'.repeat(78)}…)`);
  });

  it('names each field at fault, with the value given', () => {
    expect(explain({ predictionId: 'x', label: 'maybe', extra: 1 })).toBe(
      'predictionId: Invalid UUID (got "x"); label: Invalid option: expected one of "spam"|"ham" (got "maybe"); extra: unknown field (check its spelling)',
    );
  });
});
