
/*
 * Copyright (C) the ngx_ws authors
 *
 * Live metrics (docs/directives.md, ws_status, ws_status_zone): counters
 * in one zone of shared memory that the module adds itself, kept over a
 * reload as ngx_http_limit_req_module keeps its zones.  Each worker takes
 * a slot of its own at its start, once, under the zone's lock, and then
 * writes only to it with plain increments: no lock and no atomic write
 * while WebSockets run.  A worker that exits folds its slot into the
 * "retired" counters under the lock; a worker that died without exiting
 * is folded by the next worker that starts.  The endpoint sums all slots
 * under the lock into a snapshot and formats it outside the lock
 * (ngx_http_ws_status_display.c).  The other nginx-side files call this
 * one; it calls none of them.
 */


#include "ngx_http_ws_module.h"

#include <signal.h>


#define NGX_HTTP_WS_STATUS_GROUPS     64
#define NGX_HTTP_WS_STATUS_SLOTS      1024
#define NGX_HTTP_WS_STATUS_NAME_LEN   64

/*
 * Room for every slot with every group (a slot of 64 groups takes 10
 * pages of the slab), and for the names: about 41 MiB of address space,
 * of which only the slots in use are ever touched.
 */
#define NGX_HTTP_WS_STATUS_SIZE                                              \
    (NGX_HTTP_WS_STATUS_SLOTS                                                \
     * ngx_align(offsetof(ngx_http_ws_status_slot_t, groups)                 \
                 + NGX_HTTP_WS_STATUS_GROUPS * sizeof(ngx_http_ws_stat_t),   \
                 4096)                                                       \
     + 1024 * 1024)


/* the counters of one worker process, a group after another */

typedef struct {
    ngx_pid_t                    pid;          /* 0: free */
    ngx_uint_t                   ngroups;      /* room for */
    ngx_http_ws_stat_t           groups[1];
} ngx_http_ws_status_slot_t;


typedef struct {
    u_char                       len;
    u_char                       name[NGX_HTTP_WS_STATUS_NAME_LEN];
} ngx_http_ws_status_name_t;


typedef struct {
    ngx_uint_t                   ngroups;
    ngx_http_ws_status_name_t    names[NGX_HTTP_WS_STATUS_GROUPS];
    ngx_uint_t                   nslots;
    ngx_uint_t                   no_slot;      /* workers that found none */
    ngx_http_ws_status_slot_t   *retired;      /* of workers gone */
    ngx_http_ws_status_slot_t   *slots[NGX_HTTP_WS_STATUS_SLOTS];
} ngx_http_ws_status_shctx_t;


typedef struct {
    ngx_array_t                  names;        /* ngx_str_t; 0: default */
    ngx_uint_t                  *map;          /* group: index in the zone */
    ngx_shm_zone_t              *shm_zone;
    ngx_slab_pool_t             *shpool;
    ngx_http_ws_status_shctx_t  *sh;
} ngx_http_ws_status_main_conf_t;


static ngx_int_t ngx_http_ws_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_ws_status_slot_t *ngx_http_ws_status_get_slot(
    ngx_http_ws_status_shctx_t *sh, ngx_slab_pool_t *shpool,
    ngx_log_t *log);
static void ngx_http_ws_status_reap(ngx_http_ws_status_shctx_t *sh,
    ngx_http_ws_status_slot_t *own, ngx_log_t *log);
static void ngx_http_ws_status_fold(ngx_http_ws_status_shctx_t *sh,
    ngx_http_ws_status_slot_t *slot);
static void ngx_http_ws_status_add(ngx_http_ws_stat_t *to,
    ngx_http_ws_stat_t *from);
static void ngx_http_ws_status_observe(uint64_t *buckets, uint64_t *sum,
    ngx_uint_t *bounds, ngx_uint_t n, ngx_uint_t scale, uint64_t ms);
static ngx_int_t ngx_http_ws_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ws_status_wants_text(ngx_http_request_t *r);


/* the bucket bounds of the histograms, as nginx_ws_*_seconds show them */
ngx_uint_t  ngx_http_ws_rtt_bounds[NGX_HTTP_WS_RTT_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

ngx_uint_t  ngx_http_ws_duration_bounds[NGX_HTTP_WS_DURATION_BUCKETS] = {
    1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400
};


/* the values of $ws_reject_reason, in NGX_HTTP_WS_REFUSED_* order */
static ngx_str_t  ngx_http_ws_status_reasons[] = {
    ngx_string("handshake"),
    ngx_string("origin"),
    ngx_string("auth"),
    ngx_string("subprotocol"),
    ngx_string("limit"),
    ngx_string("upstream_refused"),
    ngx_string("upstream_error"),
    ngx_string("client_closed"),
    ngx_null_string
};


/* the tag of the zone: no ws_limit_zone of the same name can take it */
static ngx_uint_t                   ngx_http_ws_status_tag;

/* this worker's slot and its groups' indexes in the zone */
static ngx_http_ws_status_slot_t   *ngx_http_ws_status_slot;
static ngx_uint_t                  *ngx_http_ws_status_map;
static ngx_http_ws_status_main_conf_t  *ngx_http_ws_status_mcf;


void *
ngx_http_ws_status_create_main_conf(ngx_conf_t *cf)
{
    ngx_str_t                       *name;
    ngx_http_ws_status_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ws_status_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->names, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    name = ngx_array_push(&mcf->names);
    if (name == NULL) {
        return NULL;
    }

    ngx_str_set(name, "default");

    return mcf;
}


char *
ngx_http_ws_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->status != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    wlcf->status = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ws_status_handler;

    return NGX_CONF_OK;
}


char *
ngx_http_ws_status_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    u_char                          *p;
    ngx_str_t                       *value, *name;
    ngx_uint_t                       i;
    ngx_http_ws_status_main_conf_t  *mcf;

    if (wlcf->status_zone != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* a name needs no escaping in JSON and in a Prometheus label */

    if (value[1].len == 0 || value[1].len > NGX_HTTP_WS_STATUS_NAME_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid ws_status_zone name \"%V\": 1 to %d "
                           "characters", &value[1],
                           NGX_HTTP_WS_STATUS_NAME_LEN);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || *p == '_' || *p == '-' || *p == '.' || *p == ':')
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid ws_status_zone name \"%V\": letters, "
                           "digits, \"_\", \"-\", \".\" and \":\" only",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ws_module);

    name = mcf->names.elts;

    for (i = 0; i < mcf->names.nelts; i++) {
        if (name[i].len == value[1].len
            && ngx_strncmp(name[i].data, value[1].data, value[1].len) == 0)
        {
            wlcf->status_zone = i;
            return NGX_CONF_OK;
        }
    }

    if (mcf->names.nelts == NGX_HTTP_WS_STATUS_GROUPS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many ws_status_zone names, at most %d "
                           "with \"default\"", NGX_HTTP_WS_STATUS_GROUPS);
        return NGX_CONF_ERROR;
    }

    name = ngx_array_push(&mcf->names);
    if (name == NULL) {
        return NGX_CONF_ERROR;
    }

    *name = value[1];
    wlcf->status_zone = mcf->names.nelts - 1;

    return NGX_CONF_OK;
}


char *
ngx_http_ws_status_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf)
{
    ngx_conf_merge_uint_value(conf->status_zone, prev->status_zone, 0);

    /* ws_status is the location's own, never inherited */

    if (conf->status == 1 && (conf->upstream.upstream || conf->ws_lengths)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_status\" and \"ws_pass\" in one location");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ws_status_init(ngx_conf_t *cf)
{
    ngx_str_t                        name = ngx_string("ngx_http_ws_status");
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_ws_status_main_conf_t  *mcf;

    /*
     * The zone is always there: its size is fixed, so that a reload finds
     * it again and keeps its counters.  Its pages are touched only as
     * slots are taken.
     */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ws_module);

    mcf->map = ngx_pcalloc(cf->pool, mcf->names.nelts * sizeof(ngx_uint_t));
    if (mcf->map == NULL) {
        return NGX_ERROR;
    }

    mcf->shm_zone = ngx_shared_memory_add(cf, &name, NGX_HTTP_WS_STATUS_SIZE,
                                          &ngx_http_ws_status_tag);
    if (mcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mcf->shm_zone->init = ngx_http_ws_status_init_zone;
    mcf->shm_zone->data = mcf;

    /* refused handshakes are counted when their request is logged */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ws_status_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ws_status_main_conf_t  *omcf = data;

    size_t                           size;
    ngx_str_t                       *name;
    ngx_uint_t                       i, j, known;
    ngx_slab_pool_t                 *shpool;
    ngx_http_ws_status_shctx_t      *sh;
    ngx_http_ws_status_main_conf_t  *mcf;

    mcf = shm_zone->data;

    if (omcf) {
        /* a reload: the counters stay */
        mcf->shpool = omcf->shpool;
        mcf->sh = omcf->sh;
        goto map;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    mcf->shpool = shpool;

    if (shm_zone->shm.exists) {
        mcf->sh = shpool->data;
        goto map;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_ws_status_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_ws_status_shctx_t));

    size = offsetof(ngx_http_ws_status_slot_t, groups)
           + NGX_HTTP_WS_STATUS_GROUPS * sizeof(ngx_http_ws_stat_t);

    sh->retired = ngx_slab_calloc(shpool, size);
    if (sh->retired == NULL) {
        return NGX_ERROR;
    }

    sh->retired->ngroups = NGX_HTTP_WS_STATUS_GROUPS;

    shpool->data = sh;
    mcf->sh = sh;

    shpool->log_ctx = (u_char *) " in the ws_status zone";
    shpool->log_nomem = 0;

map:

    /*
     * This configuration's groups by name in the zone: a name seen
     * before gets its counters back, a new one the next free index.
     */

    sh = mcf->sh;
    name = mcf->names.elts;

    ngx_shmtx_lock(&mcf->shpool->mutex);

    known = sh->ngroups;

    for (i = 0; i < mcf->names.nelts; i++) {

        for (j = 0; j < sh->ngroups; j++) {
            if (sh->names[j].len == name[i].len
                && ngx_strncmp(sh->names[j].name, name[i].data, name[i].len)
                   == 0)
            {
                break;
            }
        }

        if (j == sh->ngroups) {

            if (sh->ngroups == NGX_HTTP_WS_STATUS_GROUPS) {
                /* the configuration fails: none of its new names stays */
                sh->ngroups = known;
                ngx_shmtx_unlock(&mcf->shpool->mutex);

                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "ws_status: more than %d zone names since "
                              "nginx started, \"%V\" has no room; restart "
                              "nginx to forget those no longer used",
                              NGX_HTTP_WS_STATUS_GROUPS, &name[i]);
                return NGX_ERROR;
            }

            sh->names[j].len = (u_char) name[i].len;
            ngx_memcpy(sh->names[j].name, name[i].data, name[i].len);
            sh->ngroups++;
        }

        mcf->map[i] = j;
    }

    ngx_shmtx_unlock(&mcf->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_ws_status_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ws_status_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        /* the cache manager and loader relay nothing */
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ws_module);

    if (mcf == NULL || mcf->sh == NULL) {
        /* no http{}: nothing is counted */
        return NGX_OK;
    }

    ngx_shmtx_lock(&mcf->shpool->mutex);

    ngx_http_ws_status_slot = ngx_http_ws_status_get_slot(mcf->sh,
                                                          mcf->shpool,
                                                          cycle->log);
    if (ngx_http_ws_status_slot == NULL) {
        mcf->sh->no_slot++;
    }

    ngx_shmtx_unlock(&mcf->shpool->mutex);

    ngx_http_ws_status_mcf = mcf;

    if (ngx_http_ws_status_slot == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "ws_status: no slot left in the zone, this worker's "
                      "WebSockets are not counted");
        return NGX_OK;
    }

    ngx_http_ws_status_map = mcf->map;

    return NGX_OK;
}


static ngx_http_ws_status_slot_t *
ngx_http_ws_status_get_slot(ngx_http_ws_status_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    size_t                      size;
    ngx_uint_t                  i;
    ngx_http_ws_status_slot_t  *slot;

    /* a free slot with room for all groups, or a new one */

    ngx_http_ws_status_reap(sh, NULL, log);

    for (i = 0; i < sh->nslots; /* void */ ) {
        slot = sh->slots[i];

        if (slot->pid) {
            i++;
            continue;
        }

        if (slot->ngroups >= sh->ngroups) {
            goto found;
        }

        /* too small since a reload added groups: its memory goes back */

        ngx_slab_free_locked(shpool, slot);
        sh->slots[i] = sh->slots[--sh->nslots];
    }

    if (sh->nslots == NGX_HTTP_WS_STATUS_SLOTS) {
        return NULL;
    }

    size = offsetof(ngx_http_ws_status_slot_t, groups)
           + sh->ngroups * sizeof(ngx_http_ws_stat_t);

    slot = ngx_slab_alloc_locked(shpool, size);
    if (slot == NULL) {
        return NULL;
    }

    slot->ngroups = sh->ngroups;
    sh->slots[sh->nslots++] = slot;

found:

    ngx_memzero(slot->groups, slot->ngroups * sizeof(ngx_http_ws_stat_t));
    slot->pid = ngx_pid;

    return slot;
}


static void
ngx_http_ws_status_reap(ngx_http_ws_status_shctx_t *sh,
    ngx_http_ws_status_slot_t *own, ngx_log_t *log)
{
    ngx_uint_t                  i;
    ngx_http_ws_status_slot_t  *slot;

    /*
     * Under the lock: the slot of a worker that died without exiting is
     * folded into the retired counters, at a worker's start and at each
     * request to the endpoint (an old worker killed while draining after
     * a reload is not replaced by a new one): its counts stay, and its
     * open WebSockets, gone with it, are not open any more.  A slot of
     * this process's pid other than its own is of a dead process whose
     * pid came back.
     */

    for (i = 0; i < sh->nslots; i++) {
        slot = sh->slots[i];

        if (slot == own || slot->pid == 0) {
            continue;
        }

        if (slot->pid == ngx_pid
            || (kill(slot->pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "ws_status: counters of process %P, gone, kept",
                          slot->pid);
            ngx_http_ws_status_fold(sh, slot);
        }
    }
}


void
ngx_http_ws_status_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ws_status_main_conf_t  *mcf;

    /* every WebSocket of the worker has ended: its counts are kept */

    mcf = ngx_http_ws_status_mcf;

    if (mcf == NULL) {
        return;
    }

    if (ngx_http_ws_status_slot == NULL) {
        /* one worker fewer that is not counted */
        ngx_shmtx_lock(&mcf->shpool->mutex);
        mcf->sh->no_slot--;
        ngx_shmtx_unlock(&mcf->shpool->mutex);
        return;
    }

    ngx_shmtx_lock(&mcf->shpool->mutex);
    ngx_http_ws_status_fold(mcf->sh, ngx_http_ws_status_slot);
    ngx_shmtx_unlock(&mcf->shpool->mutex);

    ngx_http_ws_status_slot = NULL;
}


static void
ngx_http_ws_status_fold(ngx_http_ws_status_shctx_t *sh,
    ngx_http_ws_status_slot_t *slot)
{
    ngx_uint_t  i;

    for (i = 0; i < slot->ngroups; i++) {
        ngx_http_ws_status_add(&sh->retired->groups[i], &slot->groups[i]);
    }

    slot->pid = 0;
}


static void
ngx_http_ws_status_add(ngx_http_ws_stat_t *to, ngx_http_ws_stat_t *from)
{
    uint64_t    *t, *f;
    ngx_uint_t   i;

    /* the counters are all uint64_t */

    t = (uint64_t *) to;
    f = (uint64_t *) from;

    for (i = 0; i < sizeof(ngx_http_ws_stat_t) / sizeof(uint64_t); i++) {
        t[i] += f[i];
    }
}


void
ngx_http_ws_status_open(ngx_http_ws_tunnel_t *t)
{
    ngx_http_ws_status_slot_t  *slot;

    slot = ngx_http_ws_status_slot;

    if (slot == NULL) {
        return;
    }

    t->stat = &slot->groups[ngx_http_ws_status_map[t->conf->status_zone]];
    t->stat->opened++;
}


void
ngx_http_ws_status_flush(ngx_http_ws_tunnel_t *t)
{
    uint64_t             now[6];
    ngx_http_ws_stat_t  *st;

    /*
     * What flowed since the last time, from the WebSocket's own counters:
     * at the tunnel's timer and at the end, never per frame.
     */

    st = t->stat;

    if (st == NULL || ngx_http_ws_status_slot == NULL) {
        return;
    }

    now[0] = t->dir[0].parser.frames;
    now[1] = t->dir[1].parser.forwarded + t->dir[1].proxy_frames;
    now[2] = (uint64_t) t->dir[0].bytes_in;
    now[3] = (uint64_t) t->dir[1].bytes_out;
    now[4] = t->dir[0].parser.messages;
    now[5] = t->dir[1].parser.messages;

    st->frames[0] += now[0] - t->counted[0];
    st->frames[1] += now[1] - t->counted[1];
    st->bytes[0] += now[2] - t->counted[2];
    st->bytes[1] += now[3] - t->counted[3];
    st->messages[0] += now[4] - t->counted[4];
    st->messages[1] += now[5] - t->counted[5];

    ngx_memcpy(t->counted, now, sizeof(now));
}


void
ngx_http_ws_status_close(ngx_http_ws_tunnel_t *t)
{
    ngx_uint_t           i, code;
    ngx_time_t          *tp;
    ngx_msec_int_t       ms;
    ngx_http_ws_stat_t  *st;

    /*
     * What a WebSocket's own counters say, once, at its end: the relay
     * counts nothing here per frame.
     */

    st = t->stat;

    if (st == NULL || ngx_http_ws_status_slot == NULL) {
        return;
    }

    ngx_http_ws_status_flush(t);

    t->stat = NULL;

    st->closed++;

    code = t->close_code ? t->close_code : WS_CLOSE_ABNORMAL;
    code = (code >= 1000 && code <= 1015) ? code - 1000
                                          : NGX_HTTP_WS_CODES - 1;
    st->codes[code]++;

    if (t->initiator >= NGX_HTTP_WS_BY_CLIENT
        && t->initiator <= NGX_HTTP_WS_BY_PROXY)
    {
        st->initiators[t->initiator - NGX_HTTP_WS_BY_CLIENT]++;
    }

    if (t->limit_status == NGX_HTTP_WS_LIMIT_THROTTLED) {
        st->limited[0]++;

    } else if (t->limit_status == NGX_HTTP_WS_LIMIT_CLOSED) {
        st->limited[1]++;
    }

    for (i = 0; i < NGX_HTTP_WS_TIMEOUT_N; i++) {
        if (t->timeouts & (1 << i)) {
            st->timeouts[i]++;
        }
    }

    if (t->finalized) {
        ms = t->duration;

    } else {
        tp = ngx_timeofday();
        ms = (ngx_msec_int_t) ((tp->sec - t->start_sec) * 1000
                               + (tp->msec - t->start_msec));
    }

    ngx_http_ws_status_observe(st->duration, &st->duration_sum,
                               ngx_http_ws_duration_bounds,
                               NGX_HTTP_WS_DURATION_BUCKETS, 1000,
                               (uint64_t) ngx_max(ms, 0));
}


void
ngx_http_ws_status_rtt(ngx_http_ws_tunnel_t *t, ngx_msec_int_t ms)
{
    if (t->stat == NULL) {
        return;
    }

    ngx_http_ws_status_observe(t->stat->rtt, &t->stat->rtt_sum,
                               ngx_http_ws_rtt_bounds,
                               NGX_HTTP_WS_RTT_BUCKETS, 1,
                               (uint64_t) ngx_max(ms, 0));
}


static void
ngx_http_ws_status_observe(uint64_t *buckets, uint64_t *sum,
    ngx_uint_t *bounds, ngx_uint_t n, ngx_uint_t scale, uint64_t ms)
{
    ngx_uint_t  i;

    /* the first bucket whose bound (bounds[i] * scale ms) holds ms */

    for (i = 0; i < n; i++) {
        if (ms <= (uint64_t) bounds[i] * scale) {
            break;
        }
    }

    buckets[i]++;
    *sum += ms;
}


ngx_int_t
ngx_http_ws_status_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_str_t                  *reason;
    ngx_http_ws_stat_t         *st;
    ngx_http_ws_loc_conf_t     *wlcf;
    ngx_http_variable_value_t  *v;

    /*
     * A refused handshake, by $ws_reject_reason; the line of an upgraded
     * WebSocket (its 101) was counted when it opened.
     */

    if (ngx_http_ws_status_slot == NULL || r != r->main
        || r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS)
    {
        return NGX_OK;
    }

    v = ngx_http_get_indexed_variable(r, ngx_http_ws_reject_index);

    if (v == NULL || v->not_found || v->len == 0) {
        return NGX_OK;
    }

    for (reason = ngx_http_ws_status_reasons, i = 0;
         reason->len;
         reason++, i++)
    {
        if (reason->len == v->len
            && ngx_strncmp(reason->data, v->data, v->len) == 0)
        {
            break;
        }
    }

    if (reason->len == 0) {
        return NGX_OK;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    st = &ngx_http_ws_status_slot->groups[
                                 ngx_http_ws_status_map[wlcf->status_zone]];
    st->refused[i]++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_status_handler(ngx_http_request_t *r)
{
    size_t                           size;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, j, text;
    ngx_chain_t                      out;
    ngx_http_ws_stat_t              *st;
    ngx_http_ws_status_slot_t       *slot;
    ngx_http_ws_status_snap_t        snap;
    ngx_http_ws_status_shctx_t      *sh;
    ngx_http_ws_status_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ws_module);
    sh = mcf->sh;

    if (sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* copied out under the lock, the sums formatted outside it */

    ngx_memzero(&snap, sizeof(ngx_http_ws_status_snap_t));

    snap.names = ngx_palloc(r->pool, NGX_HTTP_WS_STATUS_GROUPS
                                     * (sizeof(ngx_str_t)
                                        + NGX_HTTP_WS_STATUS_NAME_LEN));
    if (snap.names == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    snap.groups = ngx_pcalloc(r->pool, NGX_HTTP_WS_STATUS_GROUPS
                                       * sizeof(ngx_http_ws_stat_t));
    if (snap.groups == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&mcf->shpool->mutex);

    ngx_http_ws_status_reap(sh, ngx_http_ws_status_slot, r->connection->log);

    snap.ngroups = sh->ngroups;
    snap.no_slot = sh->no_slot;

    for (i = 0; i < sh->ngroups; i++) {
        snap.names[i].len = sh->names[i].len;
        snap.names[i].data = (u_char *) &snap.names[NGX_HTTP_WS_STATUS_GROUPS]
                             + i * NGX_HTTP_WS_STATUS_NAME_LEN;
        ngx_memcpy(snap.names[i].data, sh->names[i].name, sh->names[i].len);
    }

    for (i = 0; i < sh->nslots; i++) {
        slot = sh->slots[i];

        if (slot->pid == 0) {
            /* folded into the retired counters */
            continue;
        }

        snap.slots++;

        for (j = 0; j < slot->ngroups; j++) {
            st = &slot->groups[j];
            ngx_http_ws_status_add(&snap.groups[j], st);
            snap.groups[j].open += st->opened - st->closed;
        }
    }

    for (j = 0; j < sh->ngroups; j++) {
        st = &snap.groups[j];
        /* retired workers have nothing open: "open" is the live ones' */
        ngx_http_ws_status_add(st, &sh->retired->groups[j]);
    }

    ngx_shmtx_unlock(&mcf->shpool->mutex);

    text = ngx_http_ws_status_wants_text(r);

    b = text ? ngx_http_ws_status_prometheus(r, &snap)
             : ngx_http_ws_status_json(r, &snap);

    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = b->last - b->pos;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = size;

    if (text) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_uint_t
ngx_http_ws_status_wants_text(ngx_http_request_t *r)
{
    ngx_str_t         format;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* ?format=prometheus or ?format=json, else by the Accept header */

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return 1;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0) {
            return 0;
        }
    }

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (ngx_http_ws_header_is(h, "accept", 6)
            && ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                                (u_char *) "text/plain", 10 - 1)
               != NULL)
        {
            return 1;
        }
    }

    return 0;
}
