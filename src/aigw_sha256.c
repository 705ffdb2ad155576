/*
 * aigw: SHA-256 per FIPS 180-4, portable C, big-endian message schedule
 * built byte by byte so host endianness and alignment do not matter.
 */

#include <string.h>

#include "aigw_sha256.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AIGW_SHA256_NI  1
#endif


#define ROTR(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z)   (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z)  (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x)  (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x)  (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x)  (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x)  (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))


static const uint32_t  aigw_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
    0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
    0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
    0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


static void
aigw_sha256_block_c(uint32_t state[8], const u_char *p)
{
    int       i;
    uint32_t  w[64], a, b, c, d, e, f, g, h, t1, t2;

    for (i = 0; i < 16; i++) {
        w[i] = ((uint32_t) p[4 * i] << 24)
               | ((uint32_t) p[4 * i + 1] << 16)
               | ((uint32_t) p[4 * i + 2] << 8)
               | (uint32_t) p[4 * i + 3];
    }

    for (i = 16; i < 64; i++) {
        w[i] = SSIG1(w[i - 2]) + w[i - 7] + SSIG0(w[i - 15]) + w[i - 16];
    }

    a = state[0];
    b = state[1];
    c = state[2];
    d = state[3];
    e = state[4];
    f = state[5];
    g = state[6];
    h = state[7];

    for (i = 0; i < 64; i++) {
        t1 = h + BSIG1(e) + CH(e, f, g) + aigw_sha256_k[i] + w[i];
        t2 = BSIG0(a) + MAJ(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }

    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}


#if (AIGW_SHA256_NI)

/*
 * The same block with the x86 SHA extensions: a gateway hashes the key of
 * every request, and this is about twenty times cheaper than the C rounds.
 * Four rounds per step; w[] holds the message schedule four words at a
 * time: w[i] = msg2(msg1(w[i-4], w[i-3]) + (words t-7..t-4), w[i-1]).
 */

__attribute__((target("sha,sse4.1")))
static void
aigw_sha256_block_ni(uint32_t state[8], const u_char *p)
{
    int       i;
    __m128i   s0, s1, tmp, msg, abef, cdgh, mask, w[16];

    mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

    tmp = _mm_loadu_si128((const __m128i *) &state[0]);
    s1 = _mm_loadu_si128((const __m128i *) &state[4]);

    tmp = _mm_shuffle_epi32(tmp, 0xb1);            /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1b);              /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);              /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xf0);           /* CDGH */

    abef = s0;
    cdgh = s1;

    for (i = 0; i < 16; i++) {

        if (i < 4) {
            w[i] = _mm_shuffle_epi8(
                       _mm_loadu_si128((const __m128i *) (p + 16 * i)), mask);

        } else {
            tmp = _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
                                _mm_alignr_epi8(w[i - 1], w[i - 2], 4));
            w[i] = _mm_sha256msg2_epu32(tmp, w[i - 1]);
        }

        msg = _mm_add_epi32(w[i], _mm_loadu_si128(
                                      (const __m128i *) &aigw_sha256_k[4 * i]));
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
        msg = _mm_shuffle_epi32(msg, 0x0e);
        s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
    }

    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);

    tmp = _mm_shuffle_epi32(s0, 0x1b);             /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xb1);              /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xf0);           /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);              /* HGFE */

    _mm_storeu_si128((__m128i *) &state[0], s0);
    _mm_storeu_si128((__m128i *) &state[4], s1);
}

#endif


/* -1: not chosen yet; tests set 0 to run the C rounds on any machine */
int  aigw_sha256_use_ni = -1;


static void
aigw_sha256_block(uint32_t state[8], const u_char *p)
{
#if (AIGW_SHA256_NI)

    if (aigw_sha256_use_ni == -1) {
        __builtin_cpu_init();
        aigw_sha256_use_ni = __builtin_cpu_supports("sha")
                             && __builtin_cpu_supports("sse4.1");
    }

    if (aigw_sha256_use_ni) {
        aigw_sha256_block_ni(state, p);
        return;
    }

#endif

    aigw_sha256_block_c(state, p);
}


void
aigw_sha256_init(aigw_sha256_ctx_t *ctx)
{
    ctx->state[0] = 0x6a09e667;
    ctx->state[1] = 0xbb67ae85;
    ctx->state[2] = 0x3c6ef372;
    ctx->state[3] = 0xa54ff53a;
    ctx->state[4] = 0x510e527f;
    ctx->state[5] = 0x9b05688c;
    ctx->state[6] = 0x1f83d9ab;
    ctx->state[7] = 0x5be0cd19;
    ctx->bytes = 0;
    ctx->used = 0;
}


void
aigw_sha256_update(aigw_sha256_ctx_t *ctx, const u_char *data, size_t len)
{
    size_t  n;

    ctx->bytes += len;

    if (ctx->used) {
        n = 64 - ctx->used;
        if (n > len) {
            n = len;
        }

        memcpy(ctx->buf + ctx->used, data, n);
        ctx->used += n;
        data += n;
        len -= n;

        if (ctx->used < 64) {
            return;
        }

        aigw_sha256_block(ctx->state, ctx->buf);
        ctx->used = 0;
    }

    /* hash whole blocks straight from the caller's memory */
    while (len >= 64) {
        aigw_sha256_block(ctx->state, data);
        data += 64;
        len -= 64;
    }

    if (len) {
        memcpy(ctx->buf, data, len);
        ctx->used = len;
    }
}


void
aigw_sha256_final(aigw_sha256_ctx_t *ctx, u_char out[AIGW_SHA256_LEN])
{
    int       i;
    uint64_t  bits;

    bits = ctx->bytes << 3;

    ctx->buf[ctx->used++] = 0x80;

    if (ctx->used > 56) {
        memset(ctx->buf + ctx->used, 0, 64 - ctx->used);
        aigw_sha256_block(ctx->state, ctx->buf);
        ctx->used = 0;
    }

    memset(ctx->buf + ctx->used, 0, 56 - ctx->used);

    for (i = 0; i < 8; i++) {
        ctx->buf[56 + i] = (u_char) (bits >> (56 - 8 * i));
    }

    aigw_sha256_block(ctx->state, ctx->buf);

    for (i = 0; i < 8; i++) {
        out[4 * i] = (u_char) (ctx->state[i] >> 24);
        out[4 * i + 1] = (u_char) (ctx->state[i] >> 16);
        out[4 * i + 2] = (u_char) (ctx->state[i] >> 8);
        out[4 * i + 3] = (u_char) ctx->state[i];
    }

    /* do not leave message-derived state behind */
    memset(ctx, 0, sizeof(aigw_sha256_ctx_t));
}


void
aigw_sha256(const u_char *data, size_t len, u_char out[AIGW_SHA256_LEN])
{
    aigw_sha256_ctx_t  ctx;

    aigw_sha256_init(&ctx);
    aigw_sha256_update(&ctx, data, len);
    aigw_sha256_final(&ctx, out);
}


u_char *
aigw_hex_encode(u_char *dst, const u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


static int
aigw_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
aigw_hex_decode(u_char *dst, const u_char *src, size_t len)
{
    int  hi, lo;

    while (len--) {
        hi = aigw_hex_value(*src++);
        lo = aigw_hex_value(*src++);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *dst++ = (u_char) ((hi << 4) | lo);
    }

    return 0;
}
