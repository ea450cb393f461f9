/* gemm_loops.h: the five loops around the micro-kernel, the packing and the threads' share of
 * the work, written once for an element type. gemm.c includes it twice, with GEMM_T (double,
 * float) and GEMM_SFX (f64, f32) defined; each inclusion defines gemm_run_<SFX>. There is no
 * include guard on purpose. gemm.c explains the algorithm; the comments here say what each
 * piece does.
 */
#define G_CAT2(a, b) a##_##b
#define G_CAT(a, b) G_CAT2(a, b)
#define G(name) G_CAT(name, GEMM_SFX)

typedef struct {
    gemm_team team;             /* first: the thread machinery of gemm.c sees only this */
    G(gemm_ukr) ukr;            /* the micro-kernel, and its tile */
    int mr, nr;
    int64_t m, n, k;            /* the problem as the micro-kernel sees it (maybe transposed) */
    const GEMM_T *a;
    int64_t rsa, csa;
    const GEMM_T *b;
    int64_t rsb, csb;
    GEMM_T *c;
    int64_t rsc, csc;
    int accumulate;
    int64_t mc, kc, nc;         /* the cache blocking */
    int64_t abuf_len;           /* elements of each thread's packed A block */
    GEMM_T *bpanel;             /* the packed B panel, kc x nc, shared by every thread */
} G(job);

/* Pack a len x kc block of a matrix into slivers w wide, zero-padded: sliver s holds, for each
 * step p < kc, the w values (s*w + r, p), r < w, one after the other, so that the micro-kernel
 * reads its operand with unit stride, step after step. Element (r, p) of the source is
 * src[r * rs + p * cs]. For A, r runs over rows (w = mr); for B, over columns (w = nr), with
 * the strides swapped by the caller. */
static void G(pack)(int w, int64_t len, int64_t kc, const GEMM_T *src, int64_t rs, int64_t cs,
                    GEMM_T *restrict dst)
{
    for (int64_t r0 = 0; r0 < len; r0 += w, dst += (int64_t)w * kc) {
        const int rows = len - r0 < w ? (int)(len - r0) : w;
        const GEMM_T *s = src + r0 * rs;
        if (rs == 1) {
            /* the w values of one step are contiguous in the source: copy runs of w */
            for (int64_t p = 0; p < kc; ++p) {
                const GEMM_T *sp = s + p * cs;
                GEMM_T *d = dst + p * w;
                int r = 0;
                for (; r < rows; ++r)
                    d[r] = sp[r];
                for (; r < w; ++r)
                    d[r] = 0;
            }
        } else {
            /* a run along p is contiguous (cs == 1) or nothing is: read along p, write with
             * stride w; the cache lines of the w source rows are all in use at once */
            for (int r = 0; r < rows; ++r) {
                const GEMM_T *sr = s + r * rs;
                GEMM_T *d = dst + r;
                for (int64_t p = 0; p < kc; ++p)
                    d[p * w] = sr[p * cs];
            }
            for (int64_t p = 0; rows < w && p < kc; ++p)
                for (int r = rows; r < w; ++r)
                    dst[p * w + r] = 0;
        }
    }
}

/* Write the valid rows x cols corner of a scratch tile (column-major, leading dimension mr)
 * into C with its own strides: stored (beta = 0) or added (beta = 1). */
static void G(unpack_tile)(const GEMM_T *t, int mr, int rows, int cols, GEMM_T *c, int64_t rsc,
                           int64_t csc, int beta)
{
    for (int j = 0; j < cols; ++j)
        for (int i = 0; i < rows; ++i) {
            GEMM_T *d = c + i * rsc + j * csc;
            *d = beta ? *d + t[i + j * mr] : t[i + j * mr];
        }
}

/* Sliver js of the B panel (nr columns) against every mr-sliver of the current A block: the
 * macro-kernel's loop 1 for one pass of loop 2. With pack_a (the first pass over the block),
 * each A sliver is packed right before its first use. */
static void G(sweep)(const G(job) *j, GEMM_T *abuf, GEMM_T *scratch, int64_t ic, int64_t mc,
                     int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t js, int pack_a,
                     int beta)
{
    const int mr = j->mr, nr = j->nr;
    const int64_t jr = js * nr;
    const int cols = nc - jr < nr ? (int)(nc - jr) : nr;
    const GEMM_T *bs = j->bpanel + jr * kc;
    for (int64_t ir = 0; ir < mc; ir += mr) {                      /* loop 1: MR rows */
        const int rows = mc - ir < mr ? (int)(mc - ir) : mr;
        GEMM_T *as = abuf + ir * kc;
        if (pack_a)
            G(pack)(mr, rows, kc, j->a + (ic + ir) * j->rsa + pc * j->csa, j->rsa, j->csa, as);
        GEMM_T *ct = j->c + (ic + ir) * j->rsc + (jc + jr) * j->csc;
        if (rows == mr && cols == nr && j->rsc == 1) {
            j->ukr(kc, as, bs, ct, j->csc, beta);                  /* the micro-kernel */
        } else {
            /* an edge tile, or a C whose columns are not contiguous */
            j->ukr(kc, as, bs, scratch, mr, 0);
            G(unpack_tile)(scratch, mr, rows, cols, ct, j->rsc, j->csc, beta);
        }
    }
}

/* Pack sliver js of the B panel (kc x nr, zero-padded past the panel's nc columns). */
static void G(pack_b)(const G(job) *j, int64_t pc, int64_t kc, int64_t jc, int64_t nc, int64_t js)
{
    const int64_t c0 = js * j->nr, cols = nc - c0 < j->nr ? nc - c0 : j->nr;
    G(pack)(j->nr, cols, kc, j->b + pc * j->rsb + (jc + c0) * j->csb, j->csb, j->rsb,
            j->bpanel + c0 * kc);
}

/* Thread t's part of the work. Every thread runs the jc and pc loops; the rows of C are split
 * among the threads (loop 3, ic, runs over this thread's rows only), and the columns of each
 * B panel are split for packing: thread t packs slivers [s0, s1) of it. In its first A block
 * of a panel, a thread packs and uses its own B slivers first, then waits for the others at a
 * barrier (after which the whole panel is packed) and goes on with their slivers; a second
 * barrier at the end of the panel keeps it alive until every thread is done with it. So each
 * sliver, of A or of B, is packed right before it is first used, not in a phase of its own. */
static void G(work)(void *arg, int t)
{
    G(job) *j = arg;
    const int nt = j->team.nt, mr = j->mr, nr = j->nr;
    const int64_t m = j->m, n = j->n, k = j->k;

    /* this thread's packed A block, from the pool (gemm.c) */
    void *mem = pool_get((size_t)j->abuf_len * sizeof(GEMM_T));
    if (!mem)
        atomic_store_explicit(&j->team.failed, 1, memory_order_relaxed);
    team_barrier(&j->team);
    if (atomic_load_explicit(&j->team.failed, memory_order_relaxed)) {
        pool_put(mem); /* every thread sees the same flag after the barrier: all leave together */
        return;
    }
    GEMM_T *abuf = mem;
    _Alignas(GEMM_ALIGN) GEMM_T scratch[GEMM_MAX_TILE];

    /* the rows of C this thread owns: whole mr-slivers, spread as evenly as they go */
    const int64_t slivers = (m + mr - 1) / mr;
    const int64_t i_lo = slivers * t / nt * mr;
    const int64_t i_hi = slivers * (t + 1) / nt * mr < m ? slivers * (t + 1) / nt * mr : m;

    for (int64_t jc = 0; jc < n; jc += j->nc) {                    /* loop 5: NC columns */
        const int64_t nc = n - jc < j->nc ? n - jc : j->nc;
        const int64_t bslivers = (nc + nr - 1) / nr;
        const int64_t s0 = bslivers * t / nt, s1 = bslivers * (t + 1) / nt;
        for (int64_t pc = 0; pc < k; pc += j->kc) {                /* loop 4: KC steps */
            const int64_t kc = k - pc < j->kc ? k - pc : j->kc;
            const int beta = j->accumulate || pc > 0;
            if (i_lo >= i_hi) { /* no rows (cannot happen with threads_for, but be safe) */
                for (int64_t js = s0; js < s1; ++js)
                    G(pack_b)(j, pc, kc, jc, nc, js);
                team_barrier(&j->team);
            }
            for (int64_t ic = i_lo; ic < i_hi; ic += j->mc) {      /* loop 3: MC rows */
                const int64_t mc = i_hi - ic < j->mc ? i_hi - ic : j->mc;
                int pack_a = 1;
                if (ic == i_lo) {
                    for (int64_t js = s0; js < s1; ++js, pack_a = 0) {   /* loop 2, own slivers */
                        G(pack_b)(j, pc, kc, jc, nc, js);
                        G(sweep)(j, abuf, scratch, ic, mc, pc, kc, jc, nc, js, pack_a, beta);
                    }
                    team_barrier(&j->team); /* the whole panel is packed */
                    for (int64_t js = 0; js < bslivers; ++js) {         /* the others' */
                        if (js == s0)
                            js = s1;
                        if (js >= bslivers)
                            break;
                        G(sweep)(j, abuf, scratch, ic, mc, pc, kc, jc, nc, js, pack_a, beta);
                        pack_a = 0;
                    }
                } else {
                    for (int64_t js = 0; js < bslivers; ++js, pack_a = 0) /* loop 2: NR columns */
                        G(sweep)(j, abuf, scratch, ic, mc, pc, kc, jc, nc, js, pack_a, beta);
                }
            }
            team_barrier(&j->team); /* nobody still reads the panel: it may be packed again */
        }
    }
    pool_put(abuf);
}

/* Check the arguments, transpose the problem if C is row-major, allocate the shared panel and
 * run the threads. */
static int G(gemm_run)(int variant, int64_t m, int64_t n, int64_t k, const GEMM_T *a,
                       int64_t rsa, int64_t csa, const GEMM_T *b, int64_t rsb, int64_t csb,
                       GEMM_T *c, int64_t rsc, int64_t csc, int32_t accumulate, int32_t nthreads,
                       int64_t mc, int64_t kc, int64_t nc)
{
    int st = gemm_variant_status(variant);
    if (st != GEMM_OK)
        return st;
    const gemm_kernels *kr = KERNELS[variant];
    const int mr = kr->G(mr), nr = kr->G(nr);
    if (m < 0 || n < 0 || k < 0 || (accumulate != 0 && accumulate != 1) || nthreads < 1 ||
        nthreads > GEMM_MAX_THREADS || mc < 1 || kc < 1 || nc < 1 || mc % mr || nc % nr ||
        (m > 0 && n > 0 && !c) || (m > 0 && n > 0 && k > 0 && (!a || !b)))
        return GEMM_E_ARG;
    if (m == 0 || n == 0)
        return GEMM_OK;
    if (k == 0) { /* an empty sum: C = 0, or C unchanged */
        if (!accumulate)
            for (int64_t i = 0; i < m; ++i)
                for (int64_t jj = 0; jj < n; ++jj)
                    c[i * rsc + jj * csc] = 0;
        return GEMM_OK;
    }
    if (wants_transpose(rsc, csc)) {
        /* C = A B  <=>  C^T = B^T A^T: swap the roles of A and B and of rows and columns */
        int64_t t;
        const GEMM_T *p = a;
        a = b, b = p;
        t = m, m = n, n = t;
        t = rsa, rsa = csb, csb = t; /* A' = B^T: rsa' = csb, csa' = rsb */
        t = csa, csa = rsb, rsb = t; /* B' = A^T: rsb' = csa, csb' = rsa */
        t = rsc, rsc = csc, csc = t;
    }
    G(job) job;
    memset(&job, 0, sizeof job);
    job.ukr = kr->G(ukr);
    job.mr = mr, job.nr = nr;
    job.m = m, job.n = n, job.k = k;
    job.a = a, job.rsa = rsa, job.csa = csa;
    job.b = b, job.rsb = rsb, job.csb = csb;
    job.c = c, job.rsc = rsc, job.csc = csc;
    job.accumulate = accumulate;
    job.kc = kc < k ? kc : k;
    job.nc = nc < (n + nr - 1) / nr * nr ? nc : (n + nr - 1) / nr * nr;
    const int want = threads_for(m, mr, nthreads);
    const int64_t rows_each = ((m + mr - 1) / mr + want - 1) / want * mr;
    job.mc = mc < rows_each ? mc : rows_each;
    job.abuf_len = job.mc * job.kc;
    void *panel = pool_get((size_t)(job.kc * job.nc) * sizeof(GEMM_T));
    if (!panel)
        return GEMM_E_NOMEM;
    job.bpanel = panel;
    team_run(&job.team, want, G(work), &job);
    pool_put(panel);
    return atomic_load_explicit(&job.team.failed, memory_order_relaxed) ? GEMM_E_NOMEM : GEMM_OK;
}

#undef G
#undef G_CAT
#undef G_CAT2
