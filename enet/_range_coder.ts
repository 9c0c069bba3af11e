/**
 * ENet's adaptive order-2 PPM range coder (compress.c), bit-exact with C
 * `enet_range_coder_compress` / `enet_range_coder_decompress` of libenet 1.3.x
 * in both directions.
 *
 * The symbol table is a structure of typed arrays indexed like C's
 * `ENetSymbol symbols[4096]`; tree links are the same relative u16 offsets, and
 * every C `enet_uint8`/`enet_uint16` field or local wraps exactly as in C (typed
 * array stores, or an explicit mask for locals). No allocation per symbol or
 * per call: one coder owns its tables and is reused for every datagram.
 *
 * Differences from C, all outside what C can produce or survive:
 * - An empty input buffer after the first is skipped. C reads one byte past
 *   its end (undefined behaviour), so there is no C result to match.
 * - Decoding malformed input that would make C divide by zero or spin forever
 *   (range collapsing to 0) returns 0 (failure) instead.
 *
 * @module
 */

/** compress.c adaptation constants, under their C names. */
export const ENET_RANGE_CODER_TOP = 1 << 24;
export const ENET_RANGE_CODER_BOTTOM = 1 << 16;
export const ENET_CONTEXT_SYMBOL_DELTA = 3;
export const ENET_CONTEXT_SYMBOL_MINIMUM = 1;
export const ENET_CONTEXT_ESCAPE_MINIMUM = 1;
export const ENET_SUBCONTEXT_ORDER = 2;
export const ENET_SUBCONTEXT_SYMBOL_DELTA = 2;
export const ENET_SUBCONTEXT_ESCAPE_DELTA = 5;
/** `sizeof(ENetRangeCoder.symbols) / sizeof(ENetSymbol)`. */
export const ENET_RANGE_CODER_SYMBOL_COUNT = 4096;

const BOTTOM = ENET_RANGE_CODER_BOTTOM;
const BOTTOM_MASK = ENET_RANGE_CODER_BOTTOM - 1;
/** A context is rescaled once its total passes this. */
const TOTAL_RESCALE = ENET_RANGE_CODER_BOTTOM - 0x100;
const SUBCONTEXT_COUNT_RESCALE = 0xFF - 2 * ENET_SUBCONTEXT_SYMBOL_DELTA;
const ROOT_COUNT_RESCALE = 0xFF - 2 * ENET_CONTEXT_SYMBOL_DELTA + ENET_CONTEXT_SYMBOL_MINIMUM;
const SYMBOL_LIMIT = ENET_RANGE_CODER_SYMBOL_COUNT - ENET_SUBCONTEXT_ORDER;
/** The root context is always symbol 0 (it is created first after every reset). */
const ROOT = 0;

/*
 * ENetSymbol as 8 u16 slots (16 bytes, C's layout size), symbol s at s * 8:
 * value in the low byte and count in the high byte of slot 0 (so adding
 * `update << 8` wraps count as a u8 without touching value), then under, left,
 * right, symbols, escapes, total, parent. left/right/symbols are offsets in
 * symbols relative to the node, parent an absolute index, as in C.
 */
const STRIDE_SHIFT = 3;
const UNDER = 1;
const LEFT = 2;
const RIGHT = 3;
const SYMBOLS = 4;
const ESCAPES = 5;
const TOTAL = 6;
const PARENT = 7;

// Secondary results of the tree walks; module slots so no call allocates.
let resultUnder = 0;
let resultCount = 0;
let resultValue = 0;

/** ENET_SYMBOL_CREATE at index `symbol`. */
function createSymbol(table: Uint16Array, symbol: number, value: number, count: number): void {
  const base = symbol << STRIDE_SHIFT;
  table[base] = value | (count << 8);
  table[base + UNDER] = count;
  table[base + LEFT] = 0;
  table[base + RIGHT] = 0;
  table[base + SYMBOLS] = 0;
  table[base + ESCAPES] = 0;
  table[base + TOTAL] = 0;
  table[base + PARENT] = 0;
}

/** ENET_CONTEXT_CREATE of the root at index 0. */
function createRoot(table: Uint16Array): void {
  createSymbol(table, ROOT, 0, 0);
  table[ESCAPES] = ENET_CONTEXT_ESCAPE_MINIMUM;
  table[TOTAL] = ENET_CONTEXT_ESCAPE_MINIMUM + 256 * ENET_CONTEXT_SYMBOL_MINIMUM;
}

/** C `enet_symbol_rescale`: halves counts along a subtree, returns its (u16) total. */
function rescaleSymbol(table: Uint16Array, start: number): number {
  let symbol = start;
  let total = 0;
  for (;;) {
    const base = symbol << STRIDE_SHIFT;
    const valueCount = table[base];
    const count = valueCount >> 8;
    const halved = count - (count >> 1);
    table[base] = (valueCount & 0xFF) | (halved << 8);
    const left = table[base + LEFT];
    table[base + UNDER] = left ? halved + rescaleSymbol(table, symbol + left) : halved;
    total += table[base + UNDER];
    const right = table[base + RIGHT];
    if (!right) break;
    symbol += right;
  }
  return total & 0xFFFF;
}

/** ENET_CONTEXT_RESCALE. */
function rescaleContext(table: Uint16Array, context: number, minimum: number): void {
  const base = context << STRIDE_SHIFT;
  const symbols = table[base + SYMBOLS];
  table[base + TOTAL] = symbols ? rescaleSymbol(table, context + symbols) : 0;
  table[base + ESCAPES] -= table[base + ESCAPES] >> 1;
  table[base + TOTAL] += table[base + ESCAPES] + 256 * minimum;
}

/**
 * ENET_CONTEXT_ENCODE: finds or inserts `value` in the context's tree, updating
 * counts. Returns the symbol (equal to `next` when it was created there);
 * leaves under/count in the result slots.
 */
function contextEncode(
  table: Uint16Array,
  context: number,
  value: number,
  update: number,
  minimum: number,
  next: number,
): number {
  let under = value * minimum;
  let count = minimum;
  let symbol: number;
  const contextBase = context << STRIDE_SHIFT;
  if (!table[contextBase + SYMBOLS]) {
    symbol = next;
    createSymbol(table, symbol, value, update);
    table[contextBase + SYMBOLS] = symbol - context;
  } else {
    let node = context + table[contextBase + SYMBOLS];
    for (;;) {
      const base = node << STRIDE_SHIFT;
      const valueCount = table[base];
      const nodeValue = valueCount & 0xFF;
      if (value < nodeValue) {
        table[base + UNDER] += update;
        const left = table[base + LEFT];
        if (left) {
          node += left;
          continue;
        }
        symbol = next;
        createSymbol(table, symbol, value, update);
        table[base + LEFT] = symbol - node;
      } else if (value > nodeValue) {
        under += table[base + UNDER];
        const right = table[base + RIGHT];
        if (right) {
          node += right;
          continue;
        }
        symbol = next;
        createSymbol(table, symbol, value, update);
        table[base + RIGHT] = symbol - node;
      } else {
        const nodeCount = valueCount >> 8;
        count += nodeCount;
        under += table[base + UNDER] - nodeCount;
        table[base + UNDER] += update;
        table[base] = valueCount + (update << 8);
        symbol = node;
      }
      break;
    }
  }
  resultUnder = under & 0xFFFF;
  resultCount = count & 0xFFFF;
  return symbol;
}

/**
 * ENET_CONTEXT_TRY_DECODE (minimum 0): the symbol whose interval holds `code`,
 * or -1 when there is none (C: `return 0`). Leaves value/under/count.
 */
function tryDecode(table: Uint16Array, context: number, code: number, update: number): number {
  const symbols = table[(context << STRIDE_SHIFT) + SYMBOLS];
  if (!symbols) return -1;
  let under = 0;
  let node = context + symbols;
  for (;;) {
    const base = node << STRIDE_SHIFT;
    const after = (under + table[base + UNDER]) & 0xFFFF;
    const valueCount = table[base];
    const before = valueCount >> 8;
    if (code >= after) {
      under += table[base + UNDER];
      const right = table[base + RIGHT];
      if (!right) return -1;
      node += right;
    } else if (code < after - before) {
      table[base + UNDER] += update;
      const left = table[base + LEFT];
      if (!left) return -1;
      node += left;
    } else {
      resultValue = valueCount & 0xFF;
      resultCount = before;
      resultUnder = (after - before) & 0xFFFF;
      table[base + UNDER] += update;
      table[base] = valueCount + (update << 8);
      return node;
    }
  }
}

/**
 * ENET_CONTEXT_ROOT_DECODE (minimum 1): decodes `code` in the root, creating
 * the symbol at `next` when it is new. Leaves value/under/count.
 */
function rootDecode(table: Uint16Array, code: number, update: number, next: number): number {
  const minimum = ENET_CONTEXT_SYMBOL_MINIMUM;
  let under = 0;
  let count = minimum;
  let value: number;
  let symbol: number;
  if (!table[SYMBOLS]) {
    value = Math.trunc(code / minimum) & 0xFF;
    under = code - code % minimum;
    symbol = next;
    createSymbol(table, symbol, value, update);
    table[SYMBOLS] = symbol - ROOT;
  } else {
    let node = ROOT + table[SYMBOLS];
    for (;;) {
      const base = node << STRIDE_SHIFT;
      const valueCount = table[base];
      const nodeValue = valueCount & 0xFF;
      const after = (under + table[base + UNDER] + (nodeValue + 1) * minimum) & 0xFFFF;
      const before = ((valueCount >> 8) + minimum) & 0xFFFF;
      if (code >= after) {
        under += table[base + UNDER];
        const right = table[base + RIGHT];
        if (right) {
          node += right;
          continue;
        }
        value = (nodeValue + 1 + Math.trunc((code - after) / minimum)) & 0xFF;
        under = code - (code - after) % minimum;
        symbol = next;
        createSymbol(table, symbol, value, update);
        table[base + RIGHT] = symbol - node;
      } else if (code < after - before) {
        table[base + UNDER] += update;
        const left = table[base + LEFT];
        if (left) {
          node += left;
          continue;
        }
        value = (nodeValue - 1 - Math.trunc((after - before - code - 1) / minimum)) & 0xFF;
        under = code - (after - before - code - 1) % minimum;
        symbol = next;
        createSymbol(table, symbol, value, update);
        table[base + LEFT] = symbol - node;
      } else {
        value = nodeValue;
        count += valueCount >> 8;
        under = after - before;
        table[base + UNDER] += update;
        table[base] = valueCount + (update << 8);
        symbol = node;
      }
      break;
    }
  }
  resultValue = value;
  resultUnder = under & 0xFFFF;
  resultCount = count & 0xFFFF;
  return symbol;
}

/**
 * One range coder context: C's `ENetRangeCoder`. Not reentrant; a host owns one
 * and uses it for one datagram at a time. The coder registers live in locals of
 * `compress`/`decompress` as int32 bit patterns of C's u32 values (`Math.imul`,
 * `| 0`; `>>> 0` where C compares or divides unsigned).
 */
export class EnetRangeCoder {
  readonly #table = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT << STRIDE_SHIFT);

  /**
   * C `enet_range_coder_compress`: compresses the concatenation of `inBuffers`
   * into `outData[0, outLimit)`. Returns the compressed length, or 0 when the
   * output would exceed `outLimit`, the input is empty, or `inLimit` is 0
   * (like C, `inLimit` is otherwise not used to bound the input).
   */
  compress(
    inBuffers: readonly Uint8Array[],
    inLimit: number,
    outData: Uint8Array,
    outLimit: number = outData.length,
  ): number {
    if (inBuffers.length <= 0 || inLimit <= 0) return 0;
    const table = this.#table;
    const out = outData;
    const outEnd = Math.min(outLimit, outData.length);
    let outPosition = 0;
    let low = 0;
    let range = -1; // 0xFFFFFFFF as an int32 bit pattern
    let next = 1;
    createRoot(table);
    let predicted = 0;
    let order = 0;
    let bufferIndex = 0;
    let data = inBuffers[0];
    let position = 0;
    let end = data.length;
    for (;;) {
      if (position >= end) {
        do {
          if (++bufferIndex >= inBuffers.length) break;
          data = inBuffers[bufferIndex];
          position = 0;
          end = data.length;
        } while (end === 0);
        if (position >= end) break;
      }
      const value = data[position++];
      // `parentLink` is where the next symbol's index goes: -1 for `predicted`.
      let parentLink = -1;
      let coded = false;
      for (let subcontext = predicted; subcontext !== ROOT;) {
        const contextBase = subcontext << STRIDE_SHIFT;
        const symbol = contextEncode(
          table,
          subcontext,
          value,
          ENET_SUBCONTEXT_SYMBOL_DELTA,
          0,
          next,
        );
        if (symbol === next) next++;
        const under = resultUnder, count = resultCount;
        if (parentLink < 0) predicted = symbol;
        else table[parentLink] = symbol;
        parentLink = (symbol << STRIDE_SHIFT) + PARENT;
        const total = table[contextBase + TOTAL];
        const escapes = table[contextBase + ESCAPES];
        let encodeUnder = 0, encodeCount = 0;
        if (count > 0) {
          encodeUnder = escapes + under;
          encodeCount = count;
        } else {
          if (escapes > 0 && escapes < total) encodeCount = escapes;
          table[contextBase + ESCAPES] += ENET_SUBCONTEXT_ESCAPE_DELTA;
          table[contextBase + TOTAL] += ENET_SUBCONTEXT_ESCAPE_DELTA;
        }
        if (encodeCount > 0) {
          // ENET_RANGE_CODER_ENCODE
          range = ((range >>> 0) / total) | 0;
          low = (low + Math.imul(encodeUnder, range)) | 0;
          range = Math.imul(range, encodeCount);
          for (;;) {
            if ((low ^ (low + range)) >>> 24) {
              if (range >>> 0 >= BOTTOM) break;
              range = -low & BOTTOM_MASK;
            }
            if (outPosition >= outEnd) return 0;
            out[outPosition++] = low >>> 24;
            range <<= 8;
            low <<= 8;
          }
        }
        table[contextBase + TOTAL] += ENET_SUBCONTEXT_SYMBOL_DELTA;
        if (count > SUBCONTEXT_COUNT_RESCALE || table[contextBase + TOTAL] > TOTAL_RESCALE) {
          rescaleContext(table, subcontext, 0);
        }
        if (count > 0) {
          coded = true;
          break;
        }
        subcontext = table[contextBase + PARENT];
      }
      if (!coded) {
        const symbol = contextEncode(
          table,
          ROOT,
          value,
          ENET_CONTEXT_SYMBOL_DELTA,
          ENET_CONTEXT_SYMBOL_MINIMUM,
          next,
        );
        if (symbol === next) next++;
        const under = resultUnder, count = resultCount;
        if (parentLink < 0) predicted = symbol;
        else table[parentLink] = symbol;
        // ENET_RANGE_CODER_ENCODE
        range = ((range >>> 0) / table[TOTAL]) | 0;
        low = (low + Math.imul(table[ESCAPES] + under, range)) | 0;
        range = Math.imul(range, count);
        for (;;) {
          if ((low ^ (low + range)) >>> 24) {
            if (range >>> 0 >= BOTTOM) break;
            range = -low & BOTTOM_MASK;
          }
          if (outPosition >= outEnd) return 0;
          out[outPosition++] = low >>> 24;
          range <<= 8;
          low <<= 8;
        }
        table[TOTAL] += ENET_CONTEXT_SYMBOL_DELTA;
        if (count > ROOT_COUNT_RESCALE || table[TOTAL] > TOTAL_RESCALE) {
          rescaleContext(table, ROOT, ENET_CONTEXT_SYMBOL_MINIMUM);
        }
      }
      if (order >= ENET_SUBCONTEXT_ORDER) predicted = table[(predicted << STRIDE_SHIFT) + PARENT];
      else order++;
      if (next >= SYMBOL_LIMIT) {
        next = 1;
        createRoot(table);
        predicted = 0;
        order = 0;
      }
    }
    // ENET_RANGE_CODER_FLUSH
    while (low) {
      if (outPosition >= outEnd) return 0;
      out[outPosition++] = low >>> 24;
      low <<= 8;
    }
    return outPosition;
  }

  /**
   * C `enet_range_coder_decompress`: decodes `inData[0, inLimit)` into
   * `outData[0, outLimit)`. Returns the decompressed length, or 0 on failure
   * (output would exceed `outLimit`, or the input is not a valid stream).
   */
  decompress(
    inData: Uint8Array,
    inLimit: number,
    outData: Uint8Array,
    outLimit: number = outData.length,
  ): number {
    if (inLimit <= 0) return 0;
    const table = this.#table;
    const input = inData;
    const inEnd = Math.min(inLimit, inData.length);
    let inPosition = 0;
    const out = outData;
    const outEnd = Math.min(outLimit, outData.length);
    let outPosition = 0;
    let low = 0;
    let code = 0;
    let range = -1; // 0xFFFFFFFF as an int32 bit pattern
    let next = 1;
    createRoot(table);
    let predicted = 0;
    let order = 0;
    // ENET_RANGE_CODER_SEED
    for (let shift = 24; shift >= 0; shift -= 8) {
      if (inPosition < inEnd) code |= input[inPosition++] << shift;
    }
    for (;;) {
      let value = 0;
      let bottom = 0;
      let decodedIn = ROOT;
      let decodeUnder = 0, decodeCount = 0;
      let found = false;
      let escapeAtRoot = false;
      for (let subcontext = predicted; subcontext !== ROOT;) {
        const contextBase = subcontext << STRIDE_SHIFT;
        const escapes = table[contextBase + ESCAPES];
        const total = table[contextBase + TOTAL];
        if (escapes <= 0 || escapes >= total) {
          subcontext = table[contextBase + PARENT];
          continue;
        }
        // ENET_RANGE_CODER_READ
        range = ((range >>> 0) / total) | 0;
        if (range === 0) return 0;
        const symbolCode = (((code - low) >>> 0) / (range >>> 0)) & 0xFFFF;
        if (symbolCode < escapes) {
          decodeUnder = 0;
          decodeCount = escapes;
        } else {
          const symbol = tryDecode(
            table,
            subcontext,
            symbolCode - escapes,
            ENET_SUBCONTEXT_SYMBOL_DELTA,
          );
          if (symbol < 0) return 0;
          value = resultValue;
          bottom = symbol;
          decodeUnder = escapes + resultUnder;
          decodeCount = resultCount;
          found = true;
        }
        // ENET_RANGE_CODER_DECODE
        low = (low + Math.imul(decodeUnder, range)) | 0;
        range = Math.imul(range, decodeCount);
        for (;;) {
          if ((low ^ (low + range)) >>> 24) {
            if (range >>> 0 >= BOTTOM) break;
            range = -low & BOTTOM_MASK;
          }
          if (range === 0) return 0;
          code <<= 8;
          if (inPosition < inEnd) code |= input[inPosition++];
          range <<= 8;
          low <<= 8;
        }
        if (found) {
          table[contextBase + TOTAL] += ENET_SUBCONTEXT_SYMBOL_DELTA;
          if (
            decodeCount > SUBCONTEXT_COUNT_RESCALE ||
            table[contextBase + TOTAL] > TOTAL_RESCALE
          ) {
            rescaleContext(table, subcontext, 0);
          }
          decodedIn = subcontext;
          break;
        }
        subcontext = table[contextBase + PARENT];
      }
      if (!found) {
        const escapes = table[ESCAPES];
        // ENET_RANGE_CODER_READ
        range = ((range >>> 0) / table[TOTAL]) | 0;
        if (range === 0) return 0;
        const symbolCode = (((code - low) >>> 0) / (range >>> 0)) & 0xFFFF;
        if (symbolCode < escapes) {
          decodeUnder = 0;
          decodeCount = escapes;
          escapeAtRoot = true;
        } else {
          const symbol = rootDecode(table, symbolCode - escapes, ENET_CONTEXT_SYMBOL_DELTA, next);
          if (symbol === next) next++;
          value = resultValue;
          bottom = symbol;
          decodeUnder = escapes + resultUnder;
          decodeCount = resultCount;
        }
        // ENET_RANGE_CODER_DECODE
        low = (low + Math.imul(decodeUnder, range)) | 0;
        range = Math.imul(range, decodeCount);
        for (;;) {
          if ((low ^ (low + range)) >>> 24) {
            if (range >>> 0 >= BOTTOM) break;
            range = -low & BOTTOM_MASK;
          }
          if (range === 0) return 0;
          code <<= 8;
          if (inPosition < inEnd) code |= input[inPosition++];
          range <<= 8;
          low <<= 8;
        }
        if (escapeAtRoot) break;
        table[TOTAL] += ENET_CONTEXT_SYMBOL_DELTA;
        if (decodeCount > ROOT_COUNT_RESCALE || table[TOTAL] > TOTAL_RESCALE) {
          rescaleContext(table, ROOT, ENET_CONTEXT_SYMBOL_MINIMUM);
        }
        decodedIn = ROOT;
      }
      // patchContexts: teach the higher-order contexts that escaped.
      let parentLink = -1;
      for (let patch = predicted; patch !== decodedIn;) {
        const patchBase = patch << STRIDE_SHIFT;
        const symbol = contextEncode(table, patch, value, ENET_SUBCONTEXT_SYMBOL_DELTA, 0, next);
        if (symbol === next) next++;
        const count = resultCount;
        if (parentLink < 0) predicted = symbol;
        else table[parentLink] = symbol;
        parentLink = (symbol << STRIDE_SHIFT) + PARENT;
        if (count <= 0) {
          table[patchBase + ESCAPES] += ENET_SUBCONTEXT_ESCAPE_DELTA;
          table[patchBase + TOTAL] += ENET_SUBCONTEXT_ESCAPE_DELTA;
        }
        table[patchBase + TOTAL] += ENET_SUBCONTEXT_SYMBOL_DELTA;
        if (count > SUBCONTEXT_COUNT_RESCALE || table[patchBase + TOTAL] > TOTAL_RESCALE) {
          rescaleContext(table, patch, 0);
        }
        patch = table[patchBase + PARENT];
      }
      if (parentLink < 0) predicted = bottom;
      else table[parentLink] = bottom;

      if (outPosition >= outEnd) return 0;
      out[outPosition++] = value;

      if (order >= ENET_SUBCONTEXT_ORDER) predicted = table[(predicted << STRIDE_SHIFT) + PARENT];
      else order++;
      if (next >= SYMBOL_LIMIT) {
        next = 1;
        createRoot(table);
        predicted = 0;
        order = 0;
      }
    }
    return outPosition;
  }
}
