/*
 * enet_codec: exposes C libenet's checksum and range coder to the bit-exactness
 * tests (tests/enet_codec_test.ts). Batch protocol on stdin/stdout, all integers
 * little-endian u32:
 *
 *   request  = op, inLimit, outLimit, bufferCount, { length, bytes }*
 *   response = result, outputLength, output bytes
 *
 *   op 1: enet_crc32(buffers)                    result = 4, output = the 4 bytes
 *         of the returned enet_uint32 exactly as C stores them (= wire bytes)
 *   op 2: enet_range_coder_compress(buffers, inLimit, out, outLimit)
 *                                                result = returned size, output = out[0, result)
 *   op 3: enet_range_coder_decompress(buffers[0], inLimit, out, outLimit)
 *                                                result = returned size, output = out[0, result)
 *
 *   op 4: benchmark: runs sub-op `outLimit` (1, 2 or 3 above, with an output
 *         limit of 65536) `inLimit` times over the buffers; result = elapsed
 *         nanoseconds / 1000 (microseconds), output = the last run's output.
 *
 * A fresh range coder context is used for every request, as ENet reinitialises
 * its model on every call anyway. EOF on stdin ends the program.
 */
#include <enet/enet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BUFFERS 64

static int read_exact(void *data, size_t length) {
  return fread(data, 1, length, stdin) == length;
}

static int read_u32(enet_uint32 *value) {
  unsigned char b[4];
  if (!read_exact(b, 4)) return 0;
  *value = (enet_uint32)b[0] | ((enet_uint32)b[1] << 8) | ((enet_uint32)b[2] << 16) |
           ((enet_uint32)b[3] << 24);
  return 1;
}

static void write_u32(enet_uint32 value) {
  unsigned char b[4] = {value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF, value >> 24};
  fwrite(b, 1, 4, stdout);
}

int main(void) {
  if (enet_initialize() != 0) return 2;
  for (;;) {
    enet_uint32 op, inLimit, outLimit, bufferCount, i;
    ENetBuffer buffers[MAX_BUFFERS];
    if (!read_u32(&op)) break;
    if (!read_u32(&inLimit) || !read_u32(&outLimit) || !read_u32(&bufferCount)) return 3;
    if (bufferCount > MAX_BUFFERS) return 4;
    for (i = 0; i < bufferCount; i++) {
      enet_uint32 length;
      if (!read_u32(&length)) return 3;
      /* one spare byte so C's read past an empty buffer stays in bounds */
      buffers[i].data = malloc(length + 1);
      buffers[i].dataLength = length;
      if (length && !read_exact(buffers[i].data, length)) return 3;
    }
    if (op == 1) {
      enet_uint32 crc = enet_crc32(buffers, bufferCount);
      write_u32(4);
      write_u32(4);
      fwrite(&crc, 1, 4, stdout);
    } else if (op == 2 || op == 3) {
      void *coder = enet_range_coder_create();
      enet_uint8 *out = malloc(outLimit + 1);
      size_t result = op == 2
        ? enet_range_coder_compress(coder, buffers, bufferCount, inLimit, out, outLimit)
        : enet_range_coder_decompress(coder, bufferCount ? buffers[0].data : (void *)"", inLimit,
                                      out, outLimit);
      write_u32((enet_uint32)result);
      write_u32((enet_uint32)result);
      fwrite(out, 1, result, stdout);
      free(out);
      enet_range_coder_destroy(coder);
    } else if (op == 4) {
      void *coder = enet_range_coder_create();
      enet_uint8 *out = malloc(65536);
      size_t inTotal = 0, result = 0;
      volatile enet_uint32 sink = 0;
      struct timespec start, end;
      for (i = 0; i < bufferCount; i++) inTotal += buffers[i].dataLength;
      clock_gettime(CLOCK_MONOTONIC, &start);
      for (enet_uint32 n = 0; n < inLimit; n++) {
        if (outLimit == 1) sink += enet_crc32(buffers, bufferCount);
        else if (outLimit == 2)
          result = enet_range_coder_compress(coder, buffers, bufferCount, inTotal, out, 65536);
        else
          result = enet_range_coder_decompress(coder, buffers[0].data, buffers[0].dataLength, out,
                                               65536);
      }
      clock_gettime(CLOCK_MONOTONIC, &end);
      write_u32((enet_uint32)(((end.tv_sec - start.tv_sec) * 1000000000LL +
                               (end.tv_nsec - start.tv_nsec)) / 1000));
      write_u32((enet_uint32)result);
      fwrite(out, 1, result, stdout);
      free(out);
      enet_range_coder_destroy(coder);
    } else {
      return 5;
    }
    for (i = 0; i < bufferCount; i++) free(buffers[i].data);
  }
  fflush(stdout);
  enet_deinitialize();
  return 0;
}
