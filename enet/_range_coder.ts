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

const TOP = ENET_RANGE_CODER_TOP;
const BOTTOM = ENET_RANGE_CODER_BOTTOM;
const BOTTOM_MASK = ENET_RANGE_CODER_BOTTOM - 1;
/** A context is rescaled once its total passes this. */
const TOTAL_RESCALE = ENET_RANGE_CODER_BOTTOM - 0x100;
const SUBCONTEXT_COUNT_RESCALE = 0xFF - 2 * ENET_SUBCONTEXT_SYMBOL_DELTA;
const ROOT_COUNT_RESCALE = 0xFF - 2 * ENET_CONTEXT_SYMBOL_DELTA + ENET_CONTEXT_SYMBOL_MINIMUM;
const SYMBOL_LIMIT = ENET_RANGE_CODER_SYMBOL_COUNT - ENET_SUBCONTEXT_ORDER;
/** The root context is always symbol 0 (it is created first after every reset). */
const ROOT = 0;
/** Marks "the parent link to write is the `predicted` variable", C's `parent = &predicted`. */
const PREDICTED = -1;

/**
 * One range coder context: C's `ENetRangeCoder` plus the coder registers. Not
 * reentrant; a host owns one and uses it for one datagram at a time.
 */
export class EnetRangeCoder {
  // ENetSymbol fields, one typed array each.
  readonly #value = new Uint8Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #count = new Uint8Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #under = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #left = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #right = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #symbols = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #escapes = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #total = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  readonly #parent = new Uint16Array(ENET_RANGE_CODER_SYMBOL_COUNT);
  #nextSymbol = 0;

  // Results of #contextEncode / #decode*, so no call allocates.
  #resultSymbol = 0;
  #resultUnder = 0;
  #resultCount = 0;
  #resultValue = 0;

  // Coder registers (u32) and output cursor.
  #low = 0;
  #range = 0;
  #code = 0;
  #out: Uint8Array = new Uint8Array(0);
  #outPosition = 0;
  #outEnd = 0;
  #in: Uint8Array = new Uint8Array(0);
  #inPosition = 0;
  #inEnd = 0;

  #createSymbol(value: number, count: number): number {
    const symbol = this.#nextSymbol++;
    this.#value[symbol] = value;
    this.#count[symbol] = count;
    this.#under[symbol] = count;
    this.#left[symbol] = 0;
    this.#right[symbol] = 0;
    this.#symbols[symbol] = 0;
    this.#escapes[symbol] = 0;
    this.#total[symbol] = 0;
    this.#parent[symbol] = 0;
    return symbol;
  }

  #createContext(escapes: number, minimum: number): number {
    const context = this.#createSymbol(0, 0);
    this.#escapes[context] = escapes;
    this.#total[context] = escapes + 256 * minimum;
    this.#symbols[context] = 0;
    return context;
  }

  /** C `enet_symbol_rescale`: halves counts along a subtree, returns its (u16) total. */
  #rescaleSymbol(start: number): number {
    const count = this.#count, under = this.#under, left = this.#left, right = this.#right;
    let symbol = start;
    let total = 0;
    for (;;) {
      count[symbol] -= count[symbol] >> 1;
      under[symbol] = count[symbol];
      if (left[symbol]) under[symbol] += this.#rescaleSymbol(symbol + left[symbol]);
      total = (total + under[symbol]) & 0xFFFF;
      if (!right[symbol]) break;
      symbol += right[symbol];
    }
    return total;
  }

  #rescaleContext(context: number, minimum: number): void {
    const symbols = this.#symbols[context];
    this.#total[context] = symbols ? this.#rescaleSymbol(context + symbols) : 0;
    this.#escapes[context] -= this.#escapes[context] >> 1;
    this.#total[context] += this.#escapes[context] + 256 * minimum;
  }

  /**
   * C `ENET_CONTEXT_ENCODE`: finds or inserts `value` in the context's tree,
   * updating counts; leaves symbol/under/count in the result fields.
   */
  #contextEncode(context: number, value: number, update: number, minimum: number): void {
    let under = value * minimum;
    let count = minimum;
    let symbol: number;
    if (!this.#symbols[context]) {
      symbol = this.#createSymbol(value, update);
      this.#symbols[context] = symbol - context;
    } else {
      const values = this.#value, counts = this.#count, unders = this.#under;
      const left = this.#left, right = this.#right;
      let node = context + this.#symbols[context];
      for (;;) {
        if (value < values[node]) {
          unders[node] += update;
          if (left[node]) {
            node += left[node];
            continue;
          }
          symbol = this.#createSymbol(value, update);
          left[node] = symbol - node;
        } else if (value > values[node]) {
          under += unders[node];
          if (right[node]) {
            node += right[node];
            continue;
          }
          symbol = this.#createSymbol(value, update);
          right[node] = symbol - node;
        } else {
          count += counts[node];
          under += unders[node] - counts[node];
          unders[node] += update;
          counts[node] += update;
          symbol = node;
        }
        break;
      }
    }
    this.#resultSymbol = symbol;
    this.#resultUnder = under & 0xFFFF;
    this.#resultCount = count & 0xFFFF;
  }

  /** C `ENET_RANGE_CODER_ENCODE`; false when the output limit is hit. */
  #encode(under: number, count: number, total: number): boolean {
    let low = this.#low;
    let range = (this.#range / total) >>> 0;
    low = (low + under * range) >>> 0;
    range = (range * count) >>> 0;
    for (;;) {
      if (((low ^ ((low + range) >>> 0)) >>> 0) >= TOP) {
        if (range >= BOTTOM) break;
        range = -low & BOTTOM_MASK;
      }
      if (this.#outPosition >= this.#outEnd) return false;
      this.#out[this.#outPosition++] = low >>> 24;
      range = (range << 8) >>> 0;
      low = (low << 8) >>> 0;
    }
    this.#low = low;
    this.#range = range;
    return true;
  }

  #resetModel(): void {
    this.#nextSymbol = 0;
    this.#createContext(ENET_CONTEXT_ESCAPE_MINIMUM, ENET_CONTEXT_SYMBOL_MINIMUM);
  }

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
    const escapes = this.#escapes, totals = this.#total, parents = this.#parent;
    this.#out = outData;
    this.#outPosition = 0;
    this.#outEnd = Math.min(outLimit, outData.length);
    this.#low = 0;
    this.#range = 0xFFFFFFFF;
    this.#resetModel();
    let predicted = 0;
    let order = 0;
    let bufferIndex = 0;
    let data = inBuffers[0];
    let position = 0;
    let end = data.length;
    try {
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
        let parentLink = PREDICTED;
        let coded = false;
        for (let subcontext = predicted; subcontext !== ROOT; subcontext = parents[subcontext]) {
          this.#contextEncode(subcontext, value, ENET_SUBCONTEXT_SYMBOL_DELTA, 0);
          const symbol = this.#resultSymbol, under = this.#resultUnder, count = this.#resultCount;
          if (parentLink === PREDICTED) predicted = symbol;
          else parents[parentLink] = symbol;
          parentLink = symbol;
          const total = totals[subcontext];
          if (count > 0) {
            if (!this.#encode(escapes[subcontext] + under, count, total)) return 0;
          } else {
            if (escapes[subcontext] > 0 && escapes[subcontext] < total) {
              if (!this.#encode(0, escapes[subcontext], total)) return 0;
            }
            escapes[subcontext] += ENET_SUBCONTEXT_ESCAPE_DELTA;
            totals[subcontext] += ENET_SUBCONTEXT_ESCAPE_DELTA;
          }
          totals[subcontext] += ENET_SUBCONTEXT_SYMBOL_DELTA;
          if (count > SUBCONTEXT_COUNT_RESCALE || totals[subcontext] > TOTAL_RESCALE) {
            this.#rescaleContext(subcontext, 0);
          }
          if (count > 0) {
            coded = true;
            break;
          }
        }
        if (!coded) {
          this.#contextEncode(
            ROOT,
            value,
            ENET_CONTEXT_SYMBOL_DELTA,
            ENET_CONTEXT_SYMBOL_MINIMUM,
          );
          const symbol = this.#resultSymbol, under = this.#resultUnder, count = this.#resultCount;
          if (parentLink === PREDICTED) predicted = symbol;
          else parents[parentLink] = symbol;
          if (!this.#encode(escapes[ROOT] + under, count, totals[ROOT])) return 0;
          totals[ROOT] += ENET_CONTEXT_SYMBOL_DELTA;
          if (count > ROOT_COUNT_RESCALE || totals[ROOT] > TOTAL_RESCALE) {
            this.#rescaleContext(ROOT, ENET_CONTEXT_SYMBOL_MINIMUM);
          }
        }
        if (order >= ENET_SUBCONTEXT_ORDER) predicted = parents[predicted];
        else order++;
        if (this.#nextSymbol >= SYMBOL_LIMIT) {
          this.#resetModel();
          predicted = 0;
          order = 0;
        }
      }
      // ENET_RANGE_CODER_FLUSH
      let low = this.#low;
      while (low) {
        if (this.#outPosition >= this.#outEnd) return 0;
        this.#out[this.#outPosition++] = low >>> 24;
        low = (low << 8) >>> 0;
      }
      return this.#outPosition;
    } finally {
      this.#out = EMPTY;
    }
  }

  /** C `ENET_RANGE_CODER_READ`; -1 when the range has collapsed (malformed input). */
  #read(total: number): number {
    const range = (this.#range / total) >>> 0;
    this.#range = range;
    if (range === 0) return -1;
    return (((this.#code - this.#low) >>> 0) / range) & 0xFFFF;
  }

  /** C `ENET_RANGE_CODER_DECODE`; false when the range collapses (malformed input). */
  #decode(under: number, count: number): boolean {
    let low = this.#low, range = this.#range, code = this.#code;
    low = (low + under * range) >>> 0;
    range = (range * count) >>> 0;
    const input = this.#in, inEnd = this.#inEnd;
    for (;;) {
      if (((low ^ ((low + range) >>> 0)) >>> 0) >= TOP) {
        if (range >= BOTTOM) break;
        range = -low & BOTTOM_MASK;
      }
      if (range === 0) return false;
      code = (code << 8) >>> 0;
      if (this.#inPosition < inEnd) code = (code | input[this.#inPosition++]) >>> 0;
      range = (range << 8) >>> 0;
      low = (low << 8) >>> 0;
    }
    this.#low = low;
    this.#range = range;
    this.#code = code;
    return true;
  }

  /**
   * C `ENET_CONTEXT_TRY_DECODE` (minimum 0): finds the symbol whose interval
   * holds `code`; false when there is none (C: `return 0`).
   */
  #tryDecode(context: number, code: number, update: number): boolean {
    if (!this.#symbols[context]) return false;
    const values = this.#value, counts = this.#count, unders = this.#under;
    const left = this.#left, right = this.#right;
    let under = 0;
    let node = context + this.#symbols[context];
    for (;;) {
      const after = (under + unders[node]) & 0xFFFF;
      const before = counts[node];
      if (code >= after) {
        under += unders[node];
        if (right[node]) {
          node += right[node];
          continue;
        }
        return false;
      } else if (code < after - before) {
        unders[node] += update;
        if (left[node]) {
          node += left[node];
          continue;
        }
        return false;
      }
      this.#resultValue = values[node];
      this.#resultCount = counts[node];
      this.#resultUnder = (after - before) & 0xFFFF;
      unders[node] += update;
      counts[node] += update;
      this.#resultSymbol = node;
      return true;
    }
  }

  /** C `ENET_CONTEXT_ROOT_DECODE` (minimum 1): decodes or creates the symbol for `code`. */
  #rootDecode(code: number, update: number): void {
    const minimum = ENET_CONTEXT_SYMBOL_MINIMUM;
    const values = this.#value, counts = this.#count, unders = this.#under;
    const left = this.#left, right = this.#right;
    let under = 0;
    let count = minimum;
    let value: number;
    let symbol: number;
    if (!this.#symbols[ROOT]) {
      value = Math.trunc(code / minimum) & 0xFF;
      under = code - code % minimum;
      symbol = this.#createSymbol(value, update);
      this.#symbols[ROOT] = symbol - ROOT;
    } else {
      let node = ROOT + this.#symbols[ROOT];
      for (;;) {
        const after = (under + unders[node] + (values[node] + 1) * minimum) & 0xFFFF;
        const before = (counts[node] + minimum) & 0xFFFF;
        if (code >= after) {
          under += unders[node];
          if (right[node]) {
            node += right[node];
            continue;
          }
          value = (values[node] + 1 + Math.trunc((code - after) / minimum)) & 0xFF;
          under = code - (code - after) % minimum;
          symbol = this.#createSymbol(value, update);
          right[node] = symbol - node;
        } else if (code < after - before) {
          unders[node] += update;
          if (left[node]) {
            node += left[node];
            continue;
          }
          value = (values[node] - 1 - Math.trunc((after - before - code - 1) / minimum)) & 0xFF;
          under = code - (after - before - code - 1) % minimum;
          symbol = this.#createSymbol(value, update);
          left[node] = symbol - node;
        } else {
          value = values[node];
          count += counts[node];
          under = after - before;
          unders[node] += update;
          counts[node] += update;
          symbol = node;
        }
        break;
      }
    }
    this.#resultValue = value;
    this.#resultSymbol = symbol;
    this.#resultUnder = under & 0xFFFF;
    this.#resultCount = count & 0xFFFF;
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
    const escapes = this.#escapes, totals = this.#total, parents = this.#parent;
    this.#in = inData;
    this.#inPosition = 0;
    this.#inEnd = Math.min(inLimit, inData.length);
    this.#out = outData;
    this.#outPosition = 0;
    this.#outEnd = Math.min(outLimit, outData.length);
    this.#low = 0;
    this.#code = 0;
    this.#range = 0xFFFFFFFF;
    this.#resetModel();
    let predicted = 0;
    let order = 0;
    try {
      // ENET_RANGE_CODER_SEED
      for (let shift = 24; shift >= 0; shift -= 8) {
        if (this.#inPosition < this.#inEnd) {
          this.#code = (this.#code | (inData[this.#inPosition++] << shift)) >>> 0;
        }
      }
      for (;;) {
        let value = 0;
        let bottom = 0;
        let decodedIn = ROOT;
        let found = false;
        for (let subcontext = predicted; subcontext !== ROOT; subcontext = parents[subcontext]) {
          if (escapes[subcontext] <= 0) continue;
          const total = totals[subcontext];
          if (escapes[subcontext] >= total) continue;
          let code = this.#read(total);
          if (code < 0) return 0;
          if (code < escapes[subcontext]) {
            if (!this.#decode(0, escapes[subcontext])) return 0;
            continue;
          }
          code -= escapes[subcontext];
          if (!this.#tryDecode(subcontext, code, ENET_SUBCONTEXT_SYMBOL_DELTA)) return 0;
          value = this.#resultValue;
          const under = this.#resultUnder, count = this.#resultCount;
          bottom = this.#resultSymbol;
          if (!this.#decode(escapes[subcontext] + under, count)) return 0;
          totals[subcontext] += ENET_SUBCONTEXT_SYMBOL_DELTA;
          if (count > SUBCONTEXT_COUNT_RESCALE || totals[subcontext] > TOTAL_RESCALE) {
            this.#rescaleContext(subcontext, 0);
          }
          decodedIn = subcontext;
          found = true;
          break;
        }
        if (!found) {
          const total = totals[ROOT];
          let code = this.#read(total);
          if (code < 0) return 0;
          if (code < escapes[ROOT]) {
            if (!this.#decode(0, escapes[ROOT])) return 0;
            break;
          }
          code -= escapes[ROOT];
          this.#rootDecode(code, ENET_CONTEXT_SYMBOL_DELTA);
          value = this.#resultValue;
          const under = this.#resultUnder, count = this.#resultCount;
          bottom = this.#resultSymbol;
          if (!this.#decode(escapes[ROOT] + under, count)) return 0;
          totals[ROOT] += ENET_CONTEXT_SYMBOL_DELTA;
          if (count > ROOT_COUNT_RESCALE || totals[ROOT] > TOTAL_RESCALE) {
            this.#rescaleContext(ROOT, ENET_CONTEXT_SYMBOL_MINIMUM);
          }
          decodedIn = ROOT;
        }
        // patchContexts: teach the higher-order contexts that escaped.
        let parentLink = PREDICTED;
        for (let patch = predicted; patch !== decodedIn; patch = parents[patch]) {
          this.#contextEncode(patch, value, ENET_SUBCONTEXT_SYMBOL_DELTA, 0);
          const symbol = this.#resultSymbol, count = this.#resultCount;
          if (parentLink === PREDICTED) predicted = symbol;
          else parents[parentLink] = symbol;
          parentLink = symbol;
          if (count <= 0) {
            escapes[patch] += ENET_SUBCONTEXT_ESCAPE_DELTA;
            totals[patch] += ENET_SUBCONTEXT_ESCAPE_DELTA;
          }
          totals[patch] += ENET_SUBCONTEXT_SYMBOL_DELTA;
          if (count > SUBCONTEXT_COUNT_RESCALE || totals[patch] > TOTAL_RESCALE) {
            this.#rescaleContext(patch, 0);
          }
        }
        if (parentLink === PREDICTED) predicted = bottom;
        else parents[parentLink] = bottom;

        if (this.#outPosition >= this.#outEnd) return 0;
        this.#out[this.#outPosition++] = value;

        if (order >= ENET_SUBCONTEXT_ORDER) predicted = parents[predicted];
        else order++;
        if (this.#nextSymbol >= SYMBOL_LIMIT) {
          this.#resetModel();
          predicted = 0;
          order = 0;
        }
      }
      return this.#outPosition;
    } finally {
      this.#in = EMPTY;
      this.#out = EMPTY;
    }
  }
}

const EMPTY = new Uint8Array(0);
