/*
 * aigw: request body rewriting by span copy.
 */

#include <string.h>

#include "aigw_body.h"


#define AIGW_BODY_MAX_DEPTH     64
#define AIGW_BODY_MAX_OPTIONS   32


typedef struct {
    aigw_json_member_t *m;         /* the client's member, or NULL */
    const u_char       *name;      /* plain name of an added member */
    size_t              name_len;
    const u_char       *value;
    size_t              value_len;
    unsigned            deleted:1;
} aigw_body_slot_t;


typedef struct {
    aigw_body_slot_t   *slots;
    size_t              n;
} aigw_body_map_t;


static aigw_body_slot_t *aigw_body_find(aigw_body_map_t *map,
    const u_char *name, size_t len);
static aigw_body_slot_t *aigw_body_set(aigw_body_map_t *map,
    const u_char *name, size_t len, const u_char *value, size_t value_len);
static int aigw_body_usage(aigw_body_map_t *map, aigw_alloc_pt alloc,
    void *pool, aigw_body_result_t *res);
static int aigw_body_is(const aigw_body_slot_t *s, const char *text,
    size_t len);
static inline int aigw_body_named(const aigw_body_slot_t *s,
    const u_char *name, size_t len);
static u_char *aigw_body_span(u_char *body, u_char *q, const u_char *from,
    const u_char *to);


static const u_char  aigw_stream_options[] = "stream_options";
static const u_char  aigw_include_usage[] = "\"include_usage\":true";


int
aigw_body_build(const u_char *body, size_t len, aigw_json_member_t *members,
    size_t n, const aigw_body_rewrite_t *rw, aigw_alloc_pt alloc, void *pool,
    aigw_body_result_t *res)
{
    size_t                  i, size;
    u_char                 *p, *q;
    double                  d;
    const u_char           *from, *to;
    aigw_body_map_t         map;
    aigw_body_slot_t       *s;
    aigw_json_member_t     *m;
    const aigw_body_rule_t *rule;

    (void) body;
    (void) len;

    res->error = NULL;
    res->param = NULL;
    res->param_len = 0;
    res->stream = 0;
    res->client_usage = 0;

    /* room for every client member, every rule, model and stream_options */

    map.slots = alloc(pool, (n + rw->nrules + 2) * sizeof(aigw_body_slot_t));
    if (map.slots == NULL) {
        return -2;
    }

    for (i = 0; i < n; i++) {
        s = &map.slots[i];
        s->m = &members[i];
        s->name = NULL;
        s->name_len = 0;
        s->value = members[i].value;
        s->value_len = members[i].value_len;
        s->deleted = 0;
    }

    map.n = n;

    for (i = 0; i < rw->nrules; i++) {
        rule = &rw->rules[i];
        s = aigw_body_find(&map, rule->field, rule->field_len);

        switch (rule->op) {

        case AIGW_RULE_SET:
            aigw_body_set(&map, rule->field, rule->field_len, rule->value,
                          rule->value_len);
            break;

        case AIGW_RULE_DEFAULT:
            if (s == NULL || aigw_body_is(s, "null", 4)) {
                aigw_body_set(&map, rule->field, rule->field_len,
                              rule->value, rule->value_len);
            }
            break;

        case AIGW_RULE_CAP:
            if (s == NULL || aigw_body_is(s, "null", 4)) {
                break;
            }

            if (aigw_json_double(s->value, s->value_len, &d) != 0) {
                res->error = "expected a number";
                res->param = rule->field;
                res->param_len = rule->field_len;
                return -1;
            }

            if (d > rule->cap) {
                s->value = rule->value;
                s->value_len = rule->value_len;
            }
            break;

        case AIGW_RULE_REMOVE:
            if (s != NULL) {
                s->deleted = 1;
            }
            break;
        }
    }

    if (rw->model) {
        size = aigw_json_escape_len(rw->model, rw->model_len) + 2;

        p = alloc(pool, size);
        if (p == NULL) {
            return -2;
        }

        q = p;
        *q++ = '"';
        q = aigw_json_escape(q, rw->model, rw->model_len);
        *q++ = '"';

        aigw_body_set(&map, (u_char *) "model", 5, p, size);
    }

    s = aigw_body_find(&map, (u_char *) "stream", 6);

    if (s != NULL) {
        if (aigw_body_is(s, "true", 4)) {
            res->stream = 1;

        } else if (!aigw_body_is(s, "false", 5)
                   && !aigw_body_is(s, "null", 4))
        {
            res->error = "expected a boolean";
            res->param = (u_char *) "stream";
            res->param_len = 6;
            return -1;
        }
    }

    if (res->stream) {
        if (rw->include_usage) {
            i = aigw_body_usage(&map, alloc, pool, res);
            if (i != 0) {
                return (int) i;
            }

        } else {
            res->client_usage = 1;
        }
    }

    /* serialize: '{' members joined by ',' '}' */

    size = 2;

    for (i = 0; i < map.n; i++) {
        s = &map.slots[i];

        if (s->deleted) {
            continue;
        }

        if (s->m) {
            size += s->m->key_len + 3 + s->value_len + 1;

        } else {
            size += aigw_json_escape_len(s->name, s->name_len) + 3
                    + s->value_len + 1;
        }
    }

    p = alloc(pool, size);
    if (p == NULL) {
        return -2;
    }

    q = p;
    *q++ = '{';
    from = NULL;
    to = NULL;

    for (i = 0; i < map.n; i++) {
        s = &map.slots[i];

        if (s->deleted) {
            continue;
        }

        m = s->m;

        /*
         * A client's member kept as it is and written without blanks,
         * "key":value, is the same bytes in the body: runs of such members
         * are copied at once, commas included.
         */

        if (m != NULL && s->value == m->value && s->value_len == m->value_len
            && m->value == m->key + m->key_len + 2)
        {
            if (to != NULL && m->start == to + 1 && *to == ',') {
                to = m->value + m->value_len;
                continue;
            }

            q = aigw_body_span(p, q, from, to);
            from = m->start;
            to = m->value + m->value_len;
            continue;
        }

        q = aigw_body_span(p, q, from, to);
        from = NULL;
        to = NULL;

        if (q != p + 1) {
            *q++ = ',';
        }

        *q++ = '"';

        if (m != NULL) {
            q = memcpy(q, m->key, m->key_len);
            q += m->key_len;

        } else {
            q = aigw_json_escape(q, s->name, s->name_len);
        }

        *q++ = '"';
        *q++ = ':';
        memcpy(q, s->value, s->value_len);
        q += s->value_len;
    }

    q = aigw_body_span(p, q, from, to);
    *q++ = '}';

    res->body = p;
    res->len = q - p;

    return 0;
}


static aigw_body_slot_t *
aigw_body_find(aigw_body_map_t *map, const u_char *name, size_t len)
{
    size_t             i;
    aigw_body_slot_t  *s;

    for (i = 0; i < map->n; i++) {
        s = &map->slots[i];

        if (aigw_body_named(s, name, len)) {
            return s->deleted ? NULL : s;
        }
    }

    return NULL;
}


static aigw_body_slot_t *
aigw_body_set(aigw_body_map_t *map, const u_char *name, size_t len,
    const u_char *value, size_t value_len)
{
    size_t             i;
    aigw_body_slot_t  *s;

    for (i = 0; i < map->n; i++) {
        s = &map->slots[i];

        if (!aigw_body_named(s, name, len)) {
            continue;
        }

        s->value = value;
        s->value_len = value_len;
        s->deleted = 0;

        return s;
    }

    s = &map->slots[map->n++];
    s->m = NULL;
    s->name = name;
    s->name_len = len;
    s->value = value;
    s->value_len = value_len;
    s->deleted = 0;

    return s;
}


/*
 * Whether a slot is the member "name"; a client's key of another length
 * can only be it when escaped, and then it is longer.
 */

static inline int
aigw_body_named(const aigw_body_slot_t *s, const u_char *name, size_t len)
{
    const aigw_json_member_t  *m;

    m = s->m;

    if (m == NULL) {
        return s->name_len == len && memcmp(s->name, name, len) == 0;
    }

    if (m->key_len == len && !m->key_escaped) {
        return memcmp(m->key, name, len) == 0;
    }

    return m->key_len >= len && m->key_escaped
           && aigw_json_str_eq(m->key, m->key_len, 1, name, len);
}


static int
aigw_body_is(const aigw_body_slot_t *s, const char *text, size_t len)
{
    return s->value_len == len && memcmp(s->value, text, len) == 0;
}


/* Appends a run of the client's text, after a comma unless it is first. */

static u_char *
aigw_body_span(u_char *body, u_char *q, const u_char *from, const u_char *to)
{
    if (from == NULL) {
        return q;
    }

    if (q != body + 1) {
        *q++ = ',';
    }

    memcpy(q, from, to - from);

    return q + (to - from);
}


/*
 * Makes stream_options.include_usage true, keeping the client's other
 * options, and notes whether the client had asked for usage itself.
 */

static int
aigw_body_usage(aigw_body_map_t *map, aigw_alloc_pt alloc, void *pool,
    aigw_body_result_t *res)
{
    size_t              i, n, size;
    u_char             *p, *q;
    aigw_body_slot_t   *s;
    aigw_json_error_t   err;
    aigw_json_member_t  opts[AIGW_BODY_MAX_OPTIONS], *iu;

    s = aigw_body_find(map, aigw_stream_options,
                       sizeof(aigw_stream_options) - 1);

    if (s == NULL || aigw_body_is(s, "null", 4)) {
        aigw_body_set(map, aigw_stream_options,
                      sizeof(aigw_stream_options) - 1,
                      (u_char *) "{\"include_usage\":true}", 22);
        return 0;
    }

    if (aigw_json_parse_object(s->value, s->value_len, opts,
                               AIGW_BODY_MAX_OPTIONS, &n,
                               AIGW_BODY_MAX_DEPTH, &err)
        != AIGW_JSON_OK)
    {
        res->error = err.msg && err.key == NULL && s->value[0] == '{'
                     ? "too many options" : "expected an object";
        res->param = aigw_stream_options;
        res->param_len = sizeof(aigw_stream_options) - 1;
        return -1;
    }

    iu = aigw_json_find(opts, n, "include_usage", 13);

    if (iu != NULL && iu->type == AIGW_JSON_TRUE) {
        res->client_usage = 1;
        return 0;
    }

    size = 2 + sizeof(aigw_include_usage) - 1;

    for (i = 0; i < n; i++) {
        if (&opts[i] != iu) {
            size += opts[i].key_len + 3 + opts[i].value_len + 1;
        }
    }

    p = alloc(pool, size);
    if (p == NULL) {
        return -2;
    }

    q = p;
    *q++ = '{';

    for (i = 0; i < n; i++) {
        if (&opts[i] == iu) {
            continue;
        }

        *q++ = '"';
        memcpy(q, opts[i].key, opts[i].key_len);
        q += opts[i].key_len;
        *q++ = '"';
        *q++ = ':';
        memcpy(q, opts[i].value, opts[i].value_len);
        q += opts[i].value_len;
        *q++ = ',';
    }

    memcpy(q, aigw_include_usage, sizeof(aigw_include_usage) - 1);
    q += sizeof(aigw_include_usage) - 1;
    *q++ = '}';

    s->value = p;
    s->value_len = q - p;

    return 0;
}
