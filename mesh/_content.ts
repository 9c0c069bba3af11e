/**
 * Checks that application values survive the trip as JSON: what
 * `JSON.stringify` would silently drop or change (functions, `Map`, `Set`,
 * `NaN`, …) is refused with a {@linkcode MeshContentError} instead.
 *
 * @module
 */

import { MeshContentError } from "./errors.ts";

/** Deepest nesting accepted in a value. */
export const MAX_JSON_DEPTH = 512;

function invalid(what: string, problem: string): MeshContentError {
  return new MeshContentError("ERR_INVALID_CONTENT", `${what} ${problem}`);
}

/** Built-ins that JSON turns into `{}` (or worse) without a word. */
function lossyBuiltin(value: object): string | undefined {
  if (value instanceof Map) return "a Map";
  if (value instanceof Set) return "a Set";
  if (value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    return "a weak collection";
  }
  if (value instanceof Promise) return "a Promise";
  if (value instanceof RegExp) return "a RegExp";
  if (value instanceof Error) return "an Error";
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return "binary data inside a JSON value";
  }
  return undefined;
}

function check(value: unknown, what: string, path: string, ancestors: object[]): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw invalid(what, `holds ${value} at ${path}`);
      return;
    case "undefined":
      throw invalid(what, `is undefined at ${path}`);
    case "function":
    case "symbol":
    case "bigint":
      throw invalid(what, `holds a ${typeof value} at ${path}`);
  }
  if (value === null) return;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === "function") return; // Date and friends say how they travel.
  const builtin = lossyBuiltin(object);
  if (builtin) throw invalid(what, `holds ${builtin} at ${path}`);
  if (ancestors.includes(object)) throw invalid(what, `is circular at ${path}`);
  if (ancestors.length >= MAX_JSON_DEPTH) {
    throw invalid(what, `is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  ancestors.push(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) check(object[i], what, `${path}[${i}]`, ancestors);
  } else {
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      const item = object[key];
      // Like JSON: a property that is undefined is simply absent.
      if (item !== undefined) check(item, what, `${path}.${key}`, ancestors);
    }
  }
  ancestors.pop();
}

/**
 * Throws {@linkcode MeshContentError} (`ERR_INVALID_CONTENT`) unless `value`
 * is JSON that round-trips: null, booleans, finite numbers, strings, arrays
 * and objects of those (objects with a `toJSON` method are trusted).
 */
export function checkJson(value: unknown, what: string): void {
  check(value, what, "the top level", []);
}

/** Throws {@linkcode MeshContentError} (`ERR_INVALID_ARGUMENT`) unless `value` is a string. */
export function checkString(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string") {
    throw new MeshContentError(
      "ERR_INVALID_ARGUMENT",
      `${what} must be a string, got ${typeof value}`,
    );
  }
}
