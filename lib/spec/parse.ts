import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { formatZodError, InvalidInputError } from '../errors.js';

/**
 * Validates `input` against `schema`; on failure throws InvalidInputError whose message
 * names every bad field, its rule and the value found, prefixed by `what`.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new InvalidInputError(`${what} is invalid: ${formatZodError(result.error, input)}`);
  }
  return result.data;
}

/** Parses YAML text, then validates it; YAML syntax errors are reported with their line. */
export function parseYamlWith<S extends z.ZodType>(
  schema: S,
  text: string,
  what: string,
): z.infer<S> {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(`${what} is not valid YAML: ${(error as Error).message}`);
  }
  return parseWith(schema, document, what);
}
