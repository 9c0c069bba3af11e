/*
 * enet_peer: a C libenet peer for interop tests and benches.
 *
 *   enet_peer server [--host 127.0.0.1] [--port 0] [--peers 32] [--checksum] [--range-coder]
 *   enet_peer client --connect HOST:PORT [--channels 4] [--data N] [--checksum] [--range-coder]
 *   enet_peer bench-throughput --connect HOST:PORT --count N --size S
 *   enet_peer bench-rtt --connect HOST:PORT --count N --size S
 *
 * server: prints "PORT <port>", echoes every packet back on its channel with
 * its flags. Packets on channel 1 whose first 8 bytes are (index, total) and
 * size >= 8 are a throughput sink when the server runs with --sink: not
 * echoed; after the last one it replies "DONE <us>" on channel 1.
 * A packet "disconnect:<n>" asks the server to disconnect that peer with n.
 *
 * client: connects, then obeys stdin lines:
 *   burst COUNT CHANNELS FLAGS LEN    COUNT packets, packet k on channel
 *                                     k % CHANNELS: 4-byte BE k, then pattern(k)
 *   send CH FLAGS LEN SEED            one packet: pattern(SEED) of LEN bytes
 *   disconnect DATA | disconnect_now DATA | disconnect_later DATA | quit
 * Both print events: "CONNECT <data>", "RECV <ch> <flags> <len> <fnv1a32> <first u32 BE>",
 * "DISCONNECT <data>". pattern(seed)[i] = (seed * 7 + i * 31) & 255 for i >= 4 (first 4 bytes k).
 */
#include <enet/enet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

static int checksum = 0, rangeCoder = 0, sink = 0;

static unsigned long long now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (unsigned long long)tv.tv_sec * 1000000ULL + tv.tv_usec;
}

static unsigned fnv1a(const unsigned char *data, size_t len) {
  unsigned h = 2166136261u;
  for (size_t i = 0; i < len; i++) {
    h ^= data[i];
    h *= 16777619u;
  }
  return h;
}

static void fill_pattern(unsigned char *data, size_t len, unsigned seed, int withIndex) {
  for (size_t i = 0; i < len; i++) data[i] = (unsigned char)((seed * 7 + i * 31) & 255);
  if (withIndex && len >= 4) {
    data[0] = seed >> 24;
    data[1] = seed >> 16;
    data[2] = seed >> 8;
    data[3] = seed;
  }
}

static unsigned be32(const unsigned char *d) {
  return ((unsigned)d[0] << 24) | ((unsigned)d[1] << 16) | ((unsigned)d[2] << 8) | d[3];
}

static void setup(ENetHost *host) {
  if (checksum) host->checksum = enet_crc32;
  if (rangeCoder) enet_host_compress_with_range_coder(host);
}

static int parse_address(const char *text, ENetAddress *address) {
  char hostname[256];
  const char *colon = strrchr(text, ':');
  if (colon == NULL || colon - text >= (int)sizeof hostname) return -1;
  memcpy(hostname, text, colon - text);
  hostname[colon - text] = 0;
  if (enet_address_set_host_ip(address, hostname) != 0) return -1;
  address->port = (enet_uint16)atoi(colon + 1);
  return 0;
}

static void print_receive(ENetEvent *event) {
  ENetPacket *p = event->packet;
  printf("RECV %u %u %zu %08x %u\n", event->channelID,
         p->flags & (ENET_PACKET_FLAG_RELIABLE | ENET_PACKET_FLAG_UNSEQUENCED |
                     ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT),
         p->dataLength, fnv1a(p->data, p->dataLength),
         p->dataLength >= 4 ? be32(p->data) : 0);
}

/* Sink state for throughput: counted per server. */
static unsigned long long sinkStart = 0;

static void handle_server_receive(ENetEvent *event) {
  ENetPacket *p = event->packet;
  if (sink && event->channelID == 1 && p->dataLength >= 8) {
    unsigned index = be32(p->data), total = be32(p->data + 4);
    if (index == 0) sinkStart = now_us();
    if (index + 1 == total) {
      char reply[64];
      int n = snprintf(reply, sizeof reply, "DONE %llu", now_us() - sinkStart);
      enet_peer_send(event->peer, 1, enet_packet_create(reply, n, ENET_PACKET_FLAG_RELIABLE));
    }
    enet_packet_destroy(p);
    return;
  }
  if (p->dataLength > 11 && memcmp(p->data, "disconnect:", 11) == 0) {
    char text[32];
    size_t n = p->dataLength - 11 < 31 ? p->dataLength - 11 : 31;
    memcpy(text, p->data + 11, n);
    text[n] = 0;
    enet_peer_disconnect(event->peer, (enet_uint32)strtoul(text, NULL, 10));
    enet_packet_destroy(p);
    return;
  }
  if (!sink) print_receive(event);
  ENetPacket *echo = enet_packet_create(p->data, p->dataLength,
                                        p->flags & (ENET_PACKET_FLAG_RELIABLE |
                                                    ENET_PACKET_FLAG_UNSEQUENCED |
                                                    ENET_PACKET_FLAG_UNRELIABLE_FRAGMENT));
  enet_peer_send(event->peer, event->channelID, echo);
  enet_packet_destroy(p);
}

static int run_server(const char *hostText, int port, int peers) {
  ENetAddress address;
  enet_address_set_host_ip(&address, hostText);
  address.port = (enet_uint16)port;
  ENetHost *host = enet_host_create(&address, peers, 255, 0, 0);
  if (host == NULL) {
    fprintf(stderr, "enet_host_create failed\n");
    return 1;
  }
  setup(host);
  ENetAddress bound;
  enet_socket_get_address(host->socket, &bound);
  printf("PORT %u\n", bound.port);
  fflush(stdout);
  for (;;) {
    ENetEvent event;
    int r = enet_host_service(host, &event, 100);
    while (r > 0) {
      switch (event.type) {
        case ENET_EVENT_TYPE_CONNECT:
          if (!sink) printf("CONNECT %u\n", event.data);
          break;
        case ENET_EVENT_TYPE_RECEIVE:
          handle_server_receive(&event);
          break;
        case ENET_EVENT_TYPE_DISCONNECT:
          if (!sink) printf("DISCONNECT %u\n", event.data);
          break;
        default:
          break;
      }
      r = enet_host_check_events(host, &event);
    }
    fflush(stdout);
    /* Exit when stdin closes so test runs never leak the helper. */
    fd_set fds;
    struct timeval tv = {0, 0};
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    if (select(1, &fds, NULL, NULL, &tv) > 0) {
      char buffer[256];
      if (read(0, buffer, sizeof buffer) <= 0) break;
    }
  }
  enet_host_destroy(host);
  return 0;
}

static ENetPeer *connect_to(ENetHost *host, const char *target, int channels, unsigned data) {
  ENetAddress address;
  if (parse_address(target, &address) != 0) {
    fprintf(stderr, "bad address %s\n", target);
    exit(2);
  }
  ENetPeer *peer = enet_host_connect(host, &address, channels, data);
  ENetEvent event;
  unsigned long long deadline = now_us() + 5000000ULL;
  while (now_us() < deadline) {
    if (enet_host_service(host, &event, 50) > 0 && event.type == ENET_EVENT_TYPE_CONNECT) {
      return peer;
    }
  }
  fprintf(stderr, "connect to %s timed out\n", target);
  exit(3);
}

static int handle_command(ENetHost *host, ENetPeer *peer, char *line) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (sscanf(line, "burst %u %u %u %u", &a, &b, &c, &d) == 4) {
    unsigned char *buffer = malloc(d < 4 ? 4 : d);
    for (unsigned k = 0; k < a; k++) {
      fill_pattern(buffer, d, k, 1);
      enet_peer_send(peer, (enet_uint8)(k % b), enet_packet_create(buffer, d, c));
      if ((k & 255) == 255) enet_host_service(host, NULL, 0);
    }
    free(buffer);
    enet_host_flush(host);
  } else if (sscanf(line, "send %u %u %u %u", &a, &b, &c, &d) == 4) {
    unsigned char *buffer = malloc(c ? c : 1);
    fill_pattern(buffer, c, d, 0);
    enet_peer_send(peer, (enet_uint8)a, enet_packet_create(buffer, c, b));
    free(buffer);
    enet_host_flush(host);
  } else if (sscanf(line, "disconnect_now %u", &a) == 1) {
    enet_peer_disconnect_now(peer, a);
    printf("DISCONNECT_NOW\n");
  } else if (sscanf(line, "disconnect_later %u", &a) == 1) {
    enet_peer_disconnect_later(peer, a);
  } else if (sscanf(line, "disconnect %u", &a) == 1) {
    enet_peer_disconnect(peer, a);
  } else if (strncmp(line, "quit", 4) == 0) {
    return 1;
  }
  return 0;
}

static int run_client(const char *target, int channels, unsigned data) {
  ENetHost *host = enet_host_create(NULL, 1, 255, 0, 0);
  setup(host);
  ENetPeer *peer = connect_to(host, target, channels, data);
  printf("CONNECT 0\n");
  fflush(stdout);
  char line[512];
  size_t used = 0;
  int done = 0;
  while (!done) {
    ENetEvent event;
    int r = enet_host_service(host, &event, 2);
    while (r > 0) {
      if (event.type == ENET_EVENT_TYPE_RECEIVE) {
        print_receive(&event);
        enet_packet_destroy(event.packet);
      } else if (event.type == ENET_EVENT_TYPE_DISCONNECT) {
        printf("DISCONNECT %u\n", event.data);
      }
      r = enet_host_check_events(host, &event);
    }
    fflush(stdout);
    fd_set fds;
    struct timeval tv = {0, 0};
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    if (select(1, &fds, NULL, NULL, &tv) > 0) {
      ssize_t n = read(0, line + used, sizeof line - 1 - used);
      if (n <= 0) break;
      used += n;
      line[used] = 0;
      char *newline;
      while ((newline = strchr(line, '\n')) != NULL) {
        *newline = 0;
        if (handle_command(host, peer, line)) done = 1;
        size_t rest = used - (newline + 1 - line);
        memmove(line, newline + 1, rest);
        used = rest;
        line[used] = 0;
      }
      fflush(stdout);
    }
  }
  enet_host_flush(host);
  enet_host_destroy(host);
  return 0;
}

static int bench_throughput(const char *target, unsigned count, unsigned size) {
  ENetHost *host = enet_host_create(NULL, 1, 2, 0, 0);
  setup(host);
  ENetPeer *peer = connect_to(host, target, 2, 0);
  unsigned char *buffer = calloc(size < 8 ? 8 : size, 1);
  unsigned sent = 0;
  unsigned long long start = now_us();
  ENetEvent event;
  for (;;) {
    /* Keep the queue topped up without queueing everything at once. */
    if (sent < count && enet_list_empty(&peer->outgoingCommands)) {
      for (unsigned i = 0; i < 512 && sent < count; i++, sent++) {
        buffer[0] = sent >> 24; buffer[1] = sent >> 16; buffer[2] = sent >> 8; buffer[3] = sent;
        buffer[4] = count >> 24; buffer[5] = count >> 16; buffer[6] = count >> 8; buffer[7] = count;
        enet_peer_send(peer, 1, enet_packet_create(buffer, size, ENET_PACKET_FLAG_RELIABLE));
      }
    }
    int r = enet_host_service(host, &event, sent < count ? 0 : 5);
    if (r > 0 && event.type == ENET_EVENT_TYPE_RECEIVE && event.channelID == 1) {
      unsigned long long receiverUs = 0;
      sscanf((const char *)event.packet->data, "DONE %llu", &receiverUs);
      printf("RESULT %llu %llu rtt=%u var=%u throttle=%u\n", receiverUs, now_us() - start,
             peer->roundTripTime, peer->roundTripTimeVariance, peer->packetThrottle);
      enet_packet_destroy(event.packet);
      break;
    }
    if (r < 0) return 1;
  }
  enet_peer_disconnect_now(peer, 0);
  enet_host_destroy(host);
  free(buffer);
  return 0;
}

static int cmp_ull(const void *a, const void *b) {
  unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
  return x < y ? -1 : x > y;
}

static int bench_rtt(const char *target, unsigned count, unsigned size) {
  ENetHost *host = enet_host_create(NULL, 1, 2, 0, 0);
  setup(host);
  ENetPeer *peer = connect_to(host, target, 2, 0);
  unsigned char *buffer = calloc(size ? size : 1, 1);
  unsigned long long *samples = calloc(count, sizeof *samples);
  ENetEvent event;
  for (unsigned i = 0; i < count; i++) {
    unsigned long long start = now_us();
    enet_peer_send(peer, 0, enet_packet_create(buffer, size, ENET_PACKET_FLAG_RELIABLE));
    enet_host_flush(host);
    for (;;) {
      int r = enet_host_service(host, &event, 1);
      if (r > 0 && event.type == ENET_EVENT_TYPE_RECEIVE) {
        enet_packet_destroy(event.packet);
        break;
      }
    }
    samples[i] = now_us() - start;
  }
  qsort(samples, count, sizeof *samples, cmp_ull);
  printf("RESULT %llu %llu\n", samples[count / 2], samples[(count * 99) / 100]);
  enet_peer_disconnect_now(peer, 0);
  enet_host_destroy(host);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: enet_peer server|client|bench-throughput|bench-rtt [options]\n");
    return 2;
  }
  const char *mode = argv[1], *target = NULL, *hostText = "127.0.0.1";
  int port = 0, peers = 32, channels = 4;
  unsigned data = 0, count = 1000, size = 64;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--checksum")) checksum = 1;
    else if (!strcmp(argv[i], "--range-coder")) rangeCoder = 1;
    else if (!strcmp(argv[i], "--sink")) sink = 1;
    else if (!strcmp(argv[i], "--host") && i + 1 < argc) hostText = argv[++i];
    else if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peers") && i + 1 < argc) peers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--connect") && i + 1 < argc) target = argv[++i];
    else if (!strcmp(argv[i], "--channels") && i + 1 < argc) channels = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = (unsigned)atoi(argv[++i]);
  }
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  if (enet_initialize() != 0) return 1;
  int result;
  if (!strcmp(mode, "server")) result = run_server(hostText, port, peers);
  else if (target == NULL) result = 2;
  else if (!strcmp(mode, "client")) result = run_client(target, channels, data);
  else if (!strcmp(mode, "bench-throughput")) result = bench_throughput(target, count, size);
  else if (!strcmp(mode, "bench-rtt")) result = bench_rtt(target, count, size);
  else result = 2;
  fflush(stdout);
  enet_deinitialize();
  return result;
}
