/*
 * aigw: self-contained SHA-256 (FIPS 180-4) and hex helpers.
 * No nginx or OpenSSL dependency so it can be unit tested alone.
 */

#ifndef AIGW_SHA256_H
#define AIGW_SHA256_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>


#define AIGW_SHA256_LEN  32


typedef struct {
    uint32_t  state[8];
    uint64_t  bytes;
    u_char    buf[64];
    size_t    used;
} aigw_sha256_ctx_t;


void aigw_sha256_init(aigw_sha256_ctx_t *ctx);
void aigw_sha256_update(aigw_sha256_ctx_t *ctx, const u_char *data,
    size_t len);
void aigw_sha256_final(aigw_sha256_ctx_t *ctx, u_char out[AIGW_SHA256_LEN]);
void aigw_sha256(const u_char *data, size_t len, u_char out[AIGW_SHA256_LEN]);

/*
 * Whether blocks use the x86 SHA extensions: -1 until the first block
 * checks the CPU; unit tests set 0 to exercise the portable rounds.
 */
extern int  aigw_sha256_use_ni;

/* lowercase hex; writes 2 * len chars, no NUL; returns dst + 2 * len */
u_char *aigw_hex_encode(u_char *dst, const u_char *src, size_t len);

/* parses exactly 2 * len hex chars (either case); 0 ok, -1 bad input */
int aigw_hex_decode(u_char *dst, const u_char *src, size_t len);


#endif /* AIGW_SHA256_H */
