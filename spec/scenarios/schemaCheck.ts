/**
 * The subset of JSON Schema that scenario.schema.json uses: `type`, `properties`, `required`,
 * `additionalProperties`, `items`, `enum`, `const`, `anyOf`, `oneOf`, `$ref` (local), `minimum`,
 * `minItems`, `minLength`, `minProperties`, `maxProperties`. Annotations are ignored. Enough to refuse a
 * mistyped scenario with a message that points at the field, without a schema library.
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

type SchemaObject = { [keyword: string]: unknown };

const typeOf = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
};

const typeMatches = (value: unknown, type: string): boolean => {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
};

const where = (path: string) => path || '(root)';

function resolveRef(ref: string, root: SchemaObject): JsonSchema {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported, got ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)?.[part];
  if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
  return node as JsonSchema;
}

function check(value: unknown, schema: JsonSchema, path: string, root: SchemaObject, problems: string[]): void {
  if (schema === true) return;
  if (schema === false) {
    problems.push(`${where(path)}: not allowed`);
    return;
  }
  if (typeof schema.$ref === 'string') {
    check(value, resolveRef(schema.$ref, root), path, root, problems);
    return;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((type) => typeMatches(value, type))) {
      problems.push(`${where(path)}: expected ${types.join(' or ')}, got ${typeOf(value)}`);
      return;
    }
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    problems.push(`${where(path)}: must be ${JSON.stringify(schema.const)}`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
    problems.push(`${where(path)}: must be one of ${schema.enum.map((option) => JSON.stringify(option)).join(', ')}`);
  }
  if (typeof value === 'number' && typeof schema.minimum === 'number' && value < schema.minimum) {
    problems.push(`${where(path)}: must be >= ${schema.minimum}`);
  }
  if (typeof value === 'string' && typeof schema.minLength === 'number' && value.length < schema.minLength) {
    problems.push(`${where(path)}: must have at least ${schema.minLength} character(s)`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) {
      problems.push(`${where(path)}: must have at least ${schema.minItems} item(s)`);
    }
    if (schema.items !== undefined) value.forEach((item, i) => check(item, schema.items as JsonSchema, `${path}[${i}]`, root, problems));
  }
  if (typeOf(value) === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (typeof schema.minProperties === 'number' && keys.length < schema.minProperties) {
      problems.push(`${where(path)}: must have at least ${schema.minProperties} field(s)`);
    }
    if (typeof schema.maxProperties === 'number' && keys.length > schema.maxProperties) {
      problems.push(`${where(path)}: must have at most ${schema.maxProperties} field(s)`);
    }
    for (const required of (schema.required as string[] | undefined) ?? []) {
      if (!(required in record)) problems.push(`${where(path)}: "${required}" is required`);
    }
    const properties = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
    for (const key of keys) {
      const child = path ? `${path}.${key}` : key;
      if (key in properties) check(record[key], properties[key], child, root, problems);
      else if (schema.additionalProperties === false) problems.push(`${where(path)}: unknown field "${key}"`);
      else if (schema.additionalProperties !== undefined) check(record[key], schema.additionalProperties as JsonSchema, child, root, problems);
    }
  }
  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (alternatives) {
    const results = alternatives.map((alternative) => {
      const found: string[] = [];
      check(value, alternative, path, root, found);
      return found;
    });
    const passing = results.filter((found) => found.length === 0).length;
    if (schema.oneOf && passing > 1) problems.push(`${where(path)}: matches more than one alternative`);
    if (passing === 0) problems.push(...explainAlternatives(value, alternatives, results, path, root));
  }
}

/** For a union of step shapes, the errors of the shape whose key the value uses read best. */
function explainAlternatives(value: unknown, alternatives: JsonSchema[], results: string[][], path: string, root: SchemaObject): string[] {
  if (typeOf(value) === 'object') {
    const keys = Object.keys(value as object);
    for (let i = 0; i < alternatives.length; i++) {
      let alternative = alternatives[i];
      if (typeof alternative === 'object' && typeof alternative.$ref === 'string') alternative = resolveRef(alternative.$ref, root);
      const required = typeof alternative === 'object' ? ((alternative.required as string[] | undefined) ?? []) : [];
      if (required.length > 0 && required.every((key) => keys.includes(key))) return results[i];
    }
  }
  return [`${where(path)}: matches none of the allowed shapes`];
}

/** Every problem found, as `path: message` lines (empty when the value fits). */
export function validateAgainstSchema(value: unknown, schema: JsonSchema): string[] {
  const problems: string[] = [];
  check(value, schema, '', typeof schema === 'object' ? schema : {}, problems);
  return problems;
}
