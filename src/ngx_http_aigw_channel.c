/*
 * aigw: channels (where a model is served) and routes (which channels serve
 * a public model name in a location).
 *
 *     aigw_channel openai {
 *         provider  openai;
 *         endpoint  https://api.openai.com/v1;
 *         host      api.openai.com;
 *         key       sk-...;
 *         key_env   OPENAI_API_KEY;
 *         header    OpenAI-Organization org-123;
 *     }
 *
 *     aigw_model gpt-4o openai model=gpt-4o-2024-08-06 weight=3 priority=10;
 */

#include "ngx_http_aigw_module.h"


static char *ngx_http_aigw_channel_directive(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static ngx_int_t ngx_http_aigw_channel_endpoint(ngx_conf_t *cf,
    ngx_http_aigw_channel_t *ch, ngx_str_t *url);
static ngx_int_t ngx_http_aigw_safe_token(ngx_str_t *s);


/* indexed by ngx_http_aigw_provider_e */
ngx_str_t  ngx_http_aigw_providers[] = {
    ngx_string("openai"),
    ngx_string("azure"),
    ngx_string("anthropic"),
    ngx_string("gemini"),
    ngx_null_string
};


ngx_http_aigw_channel_t *
ngx_http_aigw_find_channel(ngx_http_aigw_main_conf_t *amcf, ngx_str_t *name)
{
    ngx_uint_t                 i;
    ngx_http_aigw_channel_t  **chp;

    chp = amcf->channels.elts;

    for (i = 0; i < amcf->channels.nelts; i++) {
        if (chp[i]->name.len == name->len
            && ngx_strncmp(chp[i]->name.data, name->data, name->len) == 0)
        {
            return chp[i];
        }
    }

    return NULL;
}


char *
ngx_http_aigw_channel_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_conf_t                 save;
    ngx_http_aigw_channel_t   *ch, **chp;

    value = cf->args->elts;

    if (ngx_http_aigw_safe_token(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid channel name \"%V\": use letters, "
                           "digits, '.', '_' and '-'", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_aigw_find_channel(amcf, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate channel \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ch = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_channel_t));
    if (ch == NULL) {
        return NGX_CONF_ERROR;
    }

    ch->name = value[1];
    ch->provider = NGX_CONF_UNSET_UINT;
    ch->file = cf->conf_file->file.name.data;
    ch->line = cf->conf_file->line;

    ch->keys = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    ch->headers = ngx_array_create(cf->pool, 1, sizeof(ngx_table_elt_t));
    if (ch->keys == NULL || ch->headers == NULL) {
        return NGX_CONF_ERROR;
    }

    chp = ngx_array_push(&amcf->channels);
    if (chp == NULL) {
        return NGX_CONF_ERROR;
    }

    *chp = ch;

    save = *cf;
    cf->handler = ngx_http_aigw_channel_directive;
    cf->handler_conf = (void *) ch;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ch->provider == NGX_CONF_UNSET_UINT) {
        ch->provider = NGX_HTTP_AIGW_OPENAI;
    }

    if (ch->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "channel \"%V\" has no \"endpoint\"", &ch->name);
        return NGX_CONF_ERROR;
    }

    /* the versioned prefix every client of these APIs uses */

    if (ch->base_path.len == 0) {
        if (ch->provider == NGX_HTTP_AIGW_ANTHROPIC) {
            ngx_str_set(&ch->base_path, "/v1");

        } else if (ch->provider == NGX_HTTP_AIGW_GEMINI) {
            ngx_str_set(&ch->base_path, "/v1beta");
        }
    }

    if (ch->provider == NGX_HTTP_AIGW_AZURE && ch->api_version.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "channel \"%V\": provider azure needs "
                           "\"api_version\" (e.g. 2024-10-21, or v1 for the "
                           "/openai/v1 API)", &ch->name);
        return NGX_CONF_ERROR;
    }

    if ((ch->api_version.len || ch->deployment.len)
        && ch->provider != NGX_HTTP_AIGW_AZURE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "channel \"%V\": \"api_version\" and "
                           "\"deployment\" are for provider azure",
                           &ch->name);
        return NGX_CONF_ERROR;
    }

    if (ch->key_env.len && ch->keys->nelts == 0) {
        ch->disabled = 1;

        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "channel \"%V\" is inactive: environment "
                           "variable \"%V\" is empty", &ch->name,
                           &ch->key_env);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_aigw_channel_directive(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_aigw_channel_t  *ch = (ngx_http_aigw_channel_t *) conf;

    char             *env;
    ngx_str_t        *value, *key;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    value = cf->args->elts;
    n = cf->args->nelts;

#define ngx_http_aigw_is(name)                                                \
    (value[0].len == sizeof(name) - 1                                         \
     && ngx_strncmp(value[0].data, name, sizeof(name) - 1) == 0)

    if (ngx_http_aigw_is("provider") && n == 2) {
        if (ch->provider != NGX_CONF_UNSET_UINT) {
            return "has a duplicate \"provider\"";
        }

        for (n = 0; ngx_http_aigw_providers[n].len; n++) {
            if (value[1].len == ngx_http_aigw_providers[n].len
                && ngx_strncmp(value[1].data, ngx_http_aigw_providers[n].data,
                               value[1].len)
                   == 0)
            {
                ch->provider = n;
                return NGX_CONF_OK;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unsupported provider \"%V\": expected "
                           "\"openai\" (and OpenAI-compatible APIs), "
                           "\"azure\", \"anthropic\" or \"gemini\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_aigw_is("api_version") && n == 2) {
        if (ngx_http_aigw_safe_token(&value[1]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid api_version \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        ch->api_version = value[1];
        return NGX_CONF_OK;
    }

    if (ngx_http_aigw_is("deployment") && n == 2) {
        if (!aigw_path_segment_valid(value[1].data, value[1].len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid deployment \"%V\": use letters, "
                               "digits, '.', '_' and '-'", &value[1]);
            return NGX_CONF_ERROR;
        }

        ch->deployment = value[1];
        return NGX_CONF_OK;
    }

    if (ngx_http_aigw_is("endpoint") && n == 2) {
        if (ch->url.len) {
            return "has a duplicate \"endpoint\"";
        }

        if (ngx_http_aigw_channel_endpoint(cf, ch, &value[1]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_http_aigw_is("host") && n == 2) {
        if (ngx_http_aigw_safe_token(&value[1]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid host \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        ch->host = value[1];
        return NGX_CONF_OK;
    }

    if (ngx_http_aigw_is("key") && n == 2) {
        key = ngx_array_push(ch->keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        *key = value[1];
        goto check_key;
    }

    if (ngx_http_aigw_is("key_env") && n == 2) {
        ch->key_env = value[1];

        env = getenv((char *) value[1].data);

        if (env == NULL || *env == '\0') {
            return NGX_CONF_OK;
        }

        key = ngx_array_push(ch->keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        key->len = ngx_strlen(env);
        key->data = ngx_pnalloc(cf->pool, key->len);
        if (key->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(key->data, env, key->len);
        goto check_key;
    }

    if (ngx_http_aigw_is("header") && n == 3) {
        h = ngx_array_push(ch->headers);
        if (h == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_table_elt_t));

        if (ngx_http_aigw_safe_token(&value[1]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        for (n = 0; n < value[2].len; n++) {
            if (value[2].data[n] < 0x20 || value[2].data[n] == 0x7f) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value of header \"%V\"",
                                   &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        h->key = value[1];
        h->value = value[2];
        h->hash = 1;
        h->lowcase_key = ngx_pnalloc(cf->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);

        return NGX_CONF_OK;
    }

#undef ngx_http_aigw_is

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown or malformed channel directive \"%V\" "
                       "(expected provider, endpoint, host, key, key_env, "
                       "header, api_version or deployment)", &value[0]);

    return NGX_CONF_ERROR;

check_key:

    for (n = 0; n < key->len; n++) {
        if (key->data[n] <= 0x20 || key->data[n] >= 0x7f) {
            /* never echo the credential itself */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "channel \"%V\": the upstream key contains "
                               "a space or a control character", &ch->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * "scheme://host[:port][/base]".  The host is an IP address, an upstream{}
 * block or a name resolved now, at configuration time, exactly as proxy_pass
 * does: aigw never resolves names while serving requests.
 */

static ngx_int_t
ngx_http_aigw_channel_endpoint(ngx_conf_t *cf, ngx_http_aigw_channel_t *ch,
    ngx_str_t *url)
{
    u_char     *p, *last, *path;
    size_t      add;
    in_port_t   port;
    ngx_url_t   u;
    ngx_str_t   authority;

    if (ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0) {
        add = 7;
        port = 80;

    } else if (ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0) {
        add = 8;
        port = 443;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid endpoint \"%V\": it must start with "
                           "\"http://\" or \"https://\"", url);
        return NGX_ERROR;
    }

    last = url->data + url->len;
    path = ngx_strlchr(url->data + add, last, '/');

    if (path == NULL) {
        path = last;
    }

    for (p = url->data + add; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#'
            || *p == '"' || *p == '\\')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid endpoint \"%V\": no query, "
                               "fragment, spaces or control characters",
                               url);
            return NGX_ERROR;
        }
    }

    authority.data = url->data + add;
    authority.len = path - authority.data;

    if (authority.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid endpoint \"%V\": no host", url);
        return NGX_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = authority;
    u.default_port = port;
    u.no_resolve = 1;
    u.uri_part = 1;

    if (ngx_http_upstream_add(cf, &u, 0) == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid endpoint \"%V\"%s%s", url,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_ERROR;
    }

    ch->url.len = path - url->data;
    ch->url.data = url->data;

    ch->base_path.data = path;
    ch->base_path.len = last - path;

    while (ch->base_path.len
           && ch->base_path.data[ch->base_path.len - 1] == '/')
    {
        ch->base_path.len--;
    }

    if (ch->host.len == 0) {
        ch->host = u.host;

        if (!u.no_port && u.port != port) {
            ch->host = authority;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_aigw_channels_init(ngx_conf_t *cf, ngx_http_aigw_main_conf_t *amcf)
{
    (void) cf;
    (void) amcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_safe_token(ngx_str_t *s)
{
    size_t  i;
    u_char  c;

    if (s->len == 0 || s->len > 128) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
            || c == ':')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * aigw_model <public name | prefix* | *> <channel> [model=<upstream>]
 *     [weight=<n>] [priority=<n>];
 */

char *
ngx_http_aigw_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value, name;
    ngx_uint_t                  i, prefix;
    ngx_http_aigw_route_t      *route;
    ngx_http_aigw_target_t     *t, *tt, tmp;
    ngx_http_aigw_channel_t    *ch;
    ngx_http_aigw_main_conf_t  *amcf;

    value = cf->args->elts;
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);

    name = value[1];
    prefix = 0;

    if (name.len && name.data[name.len - 1] == '*') {
        prefix = 1;
        name.len--;
    }

    if ((name.len == 0 && !prefix) || name.len > NGX_HTTP_AIGW_MAX_MODEL
        || ngx_strlchr(name.data, name.data + name.len, '*'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid model name \"%V\": '*' is only "
                           "allowed at the end", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < name.len; i++) {
        if (name.data[i] <= 0x20 || name.data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid model name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ch = ngx_http_aigw_find_channel(amcf, &value[2]);
    if (ch == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown channel \"%V\" (define it with "
                           "\"aigw_channel %V { ... }\" before use)",
                           &value[2], &value[2]);
        return NGX_CONF_ERROR;
    }

    if (alcf->routes == NULL) {
        alcf->routes = ngx_array_create(cf->pool, 8,
                                        sizeof(ngx_http_aigw_route_t));
        if (alcf->routes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    route = alcf->routes->elts;

    for (i = 0; i < alcf->routes->nelts; i++) {
        if (route[i].prefix == prefix && route[i].name.len == name.len
            && ngx_strncmp(route[i].name.data, name.data, name.len) == 0)
        {
            route = &route[i];
            goto found;
        }
    }

    route = ngx_array_push(alcf->routes);
    if (route == NULL) {
        return NGX_CONF_ERROR;
    }

    route->name = name;
    route->prefix = prefix;

    if (ngx_array_init(&route->targets, cf->pool, 2,
                       sizeof(ngx_http_aigw_target_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

found:

    t = ngx_array_push(&route->targets);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    t->channel = ch;
    ngx_str_null(&t->model);
    t->weight = 1;
    t->priority = 0;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "model=", 6) == 0) {
            t->model.data = value[i].data + 6;
            t->model.len = value[i].len - 6;

            if (t->model.len == 0
                || t->model.len > NGX_HTTP_AIGW_MAX_MODEL)
            {
                goto invalid;
            }

            for (n = 0; n < (ngx_int_t) t->model.len; n++) {
                if (t->model.data[n] <= 0x20 || t->model.data[n] >= 0x7f) {
                    goto invalid;
                }
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "weight=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n <= 0 || n > 1000000) {
                goto invalid;
            }

            t->weight = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            /* NGX_ERROR is -1: check it before negating */

            if (value[i].len > 10 && value[i].data[9] == '-') {
                n = ngx_atoi(value[i].data + 10, value[i].len - 10);

            } else {
                n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            }

            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            t->priority = (value[i].data[9] == '-') ? -n : n;
            continue;
        }

        goto invalid;
    }

    /* keep targets sorted by priority, highest first */

    tt = route->targets.elts;

    for (i = route->targets.nelts - 1;
         i > 0 && tt[i - 1].priority < tt[i].priority;
         i--)
    {
        tmp = tt[i - 1];
        tt[i - 1] = tt[i];
        tt[i] = tmp;
    }

    (void) cmd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" (expected model=<name>, "
                       "weight=<1..1000000> or priority=<integer>)",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/* An exact name wins, then the longest prefix pattern. */

ngx_http_aigw_route_t *
ngx_http_aigw_find_route(ngx_array_t *routes, u_char *model, size_t len)
{
    ngx_uint_t              i;
    ngx_http_aigw_route_t  *route, *best;

    if (routes == NULL) {
        return NULL;
    }

    route = routes->elts;
    best = NULL;

    for (i = 0; i < routes->nelts; i++) {

        if (!route[i].prefix) {
            if (route[i].name.len == len
                && ngx_memcmp(route[i].name.data, model, len) == 0)
            {
                return &route[i];
            }

            continue;
        }

        if (route[i].name.len <= len
            && ngx_memcmp(route[i].name.data, model, route[i].name.len) == 0
            && (best == NULL || best->name.len < route[i].name.len))
        {
            best = &route[i];
        }
    }

    return best;
}


/* not disabled, not taken out, not tried yet by this request */

static ngx_uint_t
ngx_http_aigw_select_usable(ngx_http_aigw_channel_t *ch,
    ngx_http_aigw_channel_t **exclude, ngx_uint_t nexclude)
{
    ngx_uint_t  i;

    if (ch->disabled || ngx_http_aigw_channel_out(ch)) {
        return 0;
    }

    for (i = 0; i < nexclude; i++) {
        if (exclude[i] == ch) {
            return 0;
        }
    }

    return 1;
}


/*
 * The highest priority tier with a usable channel, weighted at random
 * inside it.  Channels in exclude (already tried) are never returned, and
 * a channel whose circuit breaker is open is skipped like a disabled one;
 * once its cool-down is over it takes part again, and the request that
 * picks it is its probe.  Returns NULL when no channel can serve, with
 * *all_open set when there were usable channels but every one was open.
 */

ngx_http_aigw_target_t *
ngx_http_aigw_select(ngx_http_aigw_route_t *route,
    ngx_http_aigw_channel_t **exclude, ngx_uint_t nexclude,
    ngx_uint_t *all_open)
{
    ngx_int_t                tier;
    ngx_uint_t               i, j, end, total, pick, tries, usable;
    ngx_http_aigw_target_t  *t;

    t = route->targets.elts;
    usable = 0;

    for (i = 0; i < route->targets.nelts; i = end) {
        tier = t[i].priority;

        for (end = i;
             end < route->targets.nelts && t[end].priority == tier;
             end++)
        {
            usable += ngx_http_aigw_select_usable(t[end].channel, exclude,
                                                  nexclude);
        }

        /*
         * Readiness is checked without taking a probe; only the channel
         * picked asks its breaker for the request.  It refuses when
         * another worker took the probe just now: pick again, a few times.
         */

        for (tries = 0; tries < 4; tries++) {
            total = 0;

            for (j = i; j < end; j++) {
                if (ngx_http_aigw_select_usable(t[j].channel, exclude,
                                                nexclude)
                    && ngx_http_aigw_breaker_ready(t[j].channel))
                {
                    total += t[j].weight;
                }
            }

            if (total == 0) {
                break;
            }

            pick = (ngx_uint_t) ngx_random() % total;

            for (j = i; j < end; j++) {
                if (!ngx_http_aigw_select_usable(t[j].channel, exclude,
                                                 nexclude)
                    || !ngx_http_aigw_breaker_ready(t[j].channel))
                {
                    continue;
                }

                if (pick < t[j].weight) {
                    break;
                }

                pick -= t[j].weight;
            }

            if (j < end && ngx_http_aigw_breaker_allow(t[j].channel)) {
                if (all_open) {
                    *all_open = 0;
                }

                return &t[j];
            }
        }
    }

    if (all_open) {
        *all_open = (usable != 0);
    }

    return NULL;
}


ngx_str_t *
ngx_http_aigw_next_key(ngx_http_aigw_channel_t *ch)
{
    ngx_str_t  *keys;

    if (ch->keys->nelts == 0) {
        return NULL;
    }

    keys = ch->keys->elts;

    return &keys[ch->next_key++ % ch->keys->nelts];
}


/* aigw_passthrough <channel> | off; */

char *
ngx_http_aigw_passthrough(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    ngx_str_t                  *value;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_aigw_main_conf_t  *amcf;

    if (alcf->passthrough != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        alcf->passthrough = NULL;
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return "is not allowed in a regex location: the path sent "
               "upstream is the part of the URI after a location prefix";
    }
#endif

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);

    alcf->passthrough = ngx_http_aigw_find_channel(amcf, &value[1]);

    if (alcf->passthrough == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown channel \"%V\" (define it with "
                           "\"aigw_channel %V { ... }\" before use)",
                           &value[1], &value[1]);
        return NGX_CONF_ERROR;
    }

    (void) cmd;

    return NGX_CONF_OK;
}
