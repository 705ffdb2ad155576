/*
 * aigw fuzzing: what every libFuzzer target shares.
 *
 *   - a pool allocator (the nginx request pool's stand-in): every block is
 *     its own malloc() so ASan sees overflows exactly, and the pool frees
 *     everything after each input, so LeakSanitizer only reports what the
 *     code under test leaked itself (jansson trees, malloc()ed tables);
 *   - an optional allocation failure ("fail the k-th allocation") to walk
 *     the out-of-memory paths;
 *   - a little reader that takes configuration bytes from the front of the
 *     input (split points, modes) and leaves the rest as the payload;
 *   - feeding a payload in pieces, each copied to its own heap block that
 *     is poisoned and freed right after the call, so a pointer kept into
 *     the caller's memory is a use-after-free;
 *   - invariant checks that abort with a message (a libFuzzer "crash").
 *
 * A check can be switched off for exploration with the environment, e.g.
 * AIGW_FUZZ_IGNORE="json-dup,usage-split", so that one known finding does
 * not hide the next; scripts/fuzz.sh never sets it.
 */

#ifndef _AIGW_FUZZ_COMMON_H_INCLUDED_
#define _AIGW_FUZZ_COMMON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>


/* ---------------------------------------------------------------- checks */

static const char  *fz_ignore;
static int          fz_ignore_init;


static inline int
fz_enabled(const char *id)
{
    const char  *p;
    size_t       n;

    if (!fz_ignore_init) {
        fz_ignore = getenv("AIGW_FUZZ_IGNORE");
        fz_ignore_init = 1;
    }

    if (fz_ignore == NULL) {
        return 1;
    }

    n = strlen(id);

    for (p = fz_ignore; (p = strstr(p, id)) != NULL; p += n) {
        if ((p == fz_ignore || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
        {
            return 0;
        }
    }

    return 1;
}


/* AIGW_FUZZ_VERBOSE=1: the targets say what each call returned */
static inline int
fz_verbose(void)
{
    static int  v = -1;

    if (v == -1) {
        v = getenv("AIGW_FUZZ_VERBOSE") != NULL;
    }

    return v;
}


static inline void
fz_dump(const char *label, const void *p, size_t len)
{
    size_t          i;
    const u_char   *s = p;

    fprintf(stderr, "  %s (%zu bytes): \"", label, len);

    for (i = 0; i < len && i < 512; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            fputc(s[i], stderr);

        } else {
            fprintf(stderr, "\\x%02x", s[i]);
        }
    }

    fprintf(stderr, "\"%s\n", len > 512 ? "..." : "");
}


/* an invariant: abort (a finding) unless it holds or is ignored */
#define FZ_CHECK(id, cond, ...)                                               \
    do {                                                                      \
        if (!(cond) && fz_enabled(id)) {                                      \
            fprintf(stderr, "\nFUZZ INVARIANT [%s] %s:%d: ", id, __FILE__,    \
                    __LINE__);                                                \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* ------------------------------------------------------------------ pool */

typedef union fz_block_u  fz_block_t;

union fz_block_u {
    struct {
        fz_block_t   *next;
        size_t        size;
    } h;
    long double       align_ld;        /* gnu99 has no max_align_t */
    long long         align_ll;
    void             *align_p;
};


typedef struct {
    fz_block_t       *head;
    size_t            total;       /* bytes handed out */
    size_t            count;       /* allocations */
    size_t            limit;       /* refuse beyond this many bytes (0: no) */
    size_t            fail_at;     /* fail the k-th allocation (0: never) */
    unsigned          failed:1;    /* an allocation was refused */
} fz_pool_t;


static inline void
fz_pool_init(fz_pool_t *pool, size_t limit, size_t fail_at)
{
    memset(pool, 0, sizeof(fz_pool_t));
    pool->limit = limit;
    pool->fail_at = fail_at;
}


static inline void *
fz_alloc(void *data, size_t size)
{
    fz_pool_t   *pool = data;
    fz_block_t  *b;

    pool->count++;

    if ((pool->fail_at && pool->count >= pool->fail_at)
        || (pool->limit && size > pool->limit - pool->total))
    {
        pool->failed = 1;
        return NULL;
    }

    b = malloc(sizeof(fz_block_t) + size);
    if (b == NULL) {
        abort();
    }

    b->h.next = pool->head;
    b->h.size = size;
    pool->head = b;
    pool->total += size;

    /* never zeroed, like ngx_palloc(): fill with junk to catch reliance */
    memset(b + 1, 0xa5, size);

    return b + 1;
}


static inline void
fz_pool_free(fz_pool_t *pool)
{
    fz_block_t  *b, *next;

    for (b = pool->head; b; b = next) {
        next = b->h.next;
        memset(b + 1, 0x5a, b->h.size);
        free(b);
    }

    pool->head = NULL;
    pool->total = 0;
}


/* ---------------------------------------------------------------- reader */

typedef struct {
    const uint8_t    *p;
    size_t            n;
} fz_in_t;


static inline uint8_t
fz_byte(fz_in_t *in)
{
    uint8_t  b;

    if (in->n == 0) {
        return 0;
    }

    b = *in->p++;
    in->n--;

    return b;
}


static inline uint16_t
fz_u16(fz_in_t *in)
{
    uint16_t  v;

    v = fz_byte(in);

    return (uint16_t) (v | (fz_byte(in) << 8));
}


/*
 * Split sizes: one byte says how many (0..15, 0 = feed whole), then one
 * byte each; a piece is 1..64 bytes, or up to 4 KiB when the byte's top
 * bit is set.  The sizes repeat until the payload is consumed.
 */

typedef struct {
    size_t            size[16];
    size_t            n;
    size_t            next;
} fz_split_t;


static inline void
fz_split_init(fz_split_t *sp, fz_in_t *in)
{
    size_t   i;
    uint8_t  b;

    sp->n = fz_byte(in) & 0x0f;
    sp->next = 0;

    for (i = 0; i < sp->n; i++) {
        b = fz_byte(in);
        sp->size[i] = (b & 0x80) ? ((size_t) (b & 0x7f) + 1) * 32
                                 : ((size_t) (b & 0x3f) + 1);
    }
}


static inline size_t
fz_split_next(fz_split_t *sp, size_t left)
{
    size_t  n;

    if (sp->n == 0) {
        return left;
    }

    n = sp->size[sp->next++ % sp->n];

    return n < left ? n : left;
}


/* a piece in a heap block of its own, poisoned and freed after use */

static inline u_char *
fz_piece_copy(const u_char *p, size_t n)
{
    u_char  *b;

    b = malloc(n ? n : 1);
    if (b == NULL) {
        abort();
    }

    if (n) {
        memcpy(b, p, n);
    }

    return b;
}


static inline void
fz_piece_free(u_char *b, size_t n)
{
    memset(b, 0xdd, n);
    free(b);
}


/* a heap copy of the whole input, exactly sized (ASan sees len + 1 reads) */
static inline u_char *
fz_dup(const uint8_t *data, size_t size)
{
    return fz_piece_copy(data, size);
}


/* ------------------------------------------------------------ byte tests */

static inline int
fz_has_crlf(const u_char *p, size_t n)
{
    return memchr(p, '\n', n) != NULL || memchr(p, '\r', n) != NULL;
}


#endif /* _AIGW_FUZZ_COMMON_H_INCLUDED_ */
