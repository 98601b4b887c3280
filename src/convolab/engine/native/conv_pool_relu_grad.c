/* conv_pool_relu's backward: the weight and bias gradients from the winners (conv_pool_relu.h says
 * what and how). */
#include "conv_pool_relu.h"

/* a window's m products per tap into acc, one chain per tap, positions in order (M: m known); four
 * taps at a time, so that four chains are in flight */
#if defined(__AVX512F__)
INLINE void grad_taps(const float *const *patch, const vf *dz, int64_t m, vf *acc, const geom *g, const int M) {
    int64_t taps = g->kh * g->kw * g->C, k = 0;
    if (M) m = M;
    for (; k + 4 <= taps; k += 4) {
        int64_t o0 = g->off[k], o1 = g->off[k + 1], o2 = g->off[k + 2], o3 = g->off[k + 3];
        vf a0 = acc[k], a1 = acc[k + 1], a2 = acc[k + 2], a3 = acc[k + 3];
        UNROLL for (int64_t u = 0; u < m; u++) {
            const float *p = patch[u];
            a0 += p[o0] * dz[u], a1 += p[o1] * dz[u], a2 += p[o2] * dz[u], a3 += p[o3] * dz[u];
        }
        acc[k] = a0, acc[k + 1] = a1, acc[k + 2] = a2, acc[k + 3] = a3;
    }
    for (; k < taps; k++) {
        int64_t o = g->off[k];
        vf a = acc[k];
        UNROLL for (int64_t u = 0; u < m; u++) a += patch[u][o] * dz[u];
        acc[k] = a;
    }
}
#else
/* the same sums lane by lane, in halves of 8 lanes (as BCAST: plain 8-lane vector code) */
INLINE vf8 load8(const vf *v, int h) {
    vf8 r;
    memcpy(&r, (const float *)v + 8 * h, sizeof r);
    return r;
}
INLINE void store8(vf *v, int h, vf8 r) { memcpy((float *)v + 8 * h, &r, sizeof r); }
INLINE vf8 bcast8(float x) { return (vf8){x, x, x, x, x, x, x, x}; }

INLINE void grad_taps(const float *const *patch, const vf *dz, int64_t m, vf *acc, const geom *g, const int M) {
    int64_t taps = g->kh * g->kw * g->C;
    if (M) m = M;
    for (int h = 0; h < 2; h++) {
        int64_t k = 0;
        for (; k + 4 <= taps; k += 4) {
            int64_t o0 = g->off[k], o1 = g->off[k + 1], o2 = g->off[k + 2], o3 = g->off[k + 3];
            vf8 a0 = load8(acc + k, h), a1 = load8(acc + k + 1, h), a2 = load8(acc + k + 2, h);
            vf8 a3 = load8(acc + k + 3, h);
            UNROLL for (int64_t u = 0; u < m; u++) {
                const float *p = patch[u];
                vf8 d = load8(dz + u, h);
                a0 += bcast8(p[o0]) * d, a1 += bcast8(p[o1]) * d, a2 += bcast8(p[o2]) * d;
                a3 += bcast8(p[o3]) * d;
            }
            store8(acc + k, h, a0), store8(acc + k + 1, h, a1), store8(acc + k + 2, h, a2);
            store8(acc + k + 3, h, a3);
        }
        for (; k < taps; k++) {
            int64_t o = g->off[k];
            vf8 a = load8(acc + k, h);
            UNROLL for (int64_t u = 0; u < m; u++) a += bcast8(patch[u][o]) * load8(dz + u, h);
            store8(acc + k, h, a);
        }
    }
}
#endif

/* one pooled pixel's share of the image's dw (acc, per tap) and db, filter block b (generic) */
static void grad_pixel(const float *xp, const float *gy, const uint8_t *idx, vf *acc, vf *db, const geom *g,
                       int64_t oh, int64_t ow, int64_t b) {
    const float *patch[WMAX];
    int32_t pos[WMAX];
    vf dz[WMAX];
    int64_t m = window_patches(xp, g, oh, ow, patch, pos), n = g->O - b < OB ? g->O - b : OB;
    vf gv;
    vi at;
    load_grad(gy + b, idx + b, n, &gv, &at);
    *db += pick(~eq_i(at, DEAD), gv, (vf){0});
    for (int64_t u = 0; u < m; u++) dz[u] = pick(eq_i(at, pos[u]), gv, (vf){0});
    if (m == 4) grad_taps(patch, dz, m, acc, g, 4); /* 2x2 windows */
    else if (m == 9) grad_taps(patch, dz, m, acc, g, 9); /* 3x3 */
    else grad_taps(patch, dz, m, acc, g, 0);
}

/* the specialised path's whole windows of one image, filter block b, into acc (per tap) and db: one
 * chain per tap, held in registers, adding each window's four products x * dz in position order
 * (every product, so an infinite x times a zero dz gives NaN as in PyTorch) */
#if defined(__AVX512F__)
INLINE void fast_grad(const float *xp, const float *gy, const uint8_t *idx, vf *acc, vf *db, const geom *g,
                      int64_t b, const int C) {
    int64_t rs = g->Wp * C, O = g->O, n = O - b < OB ? O - b : OB;
    vf a[27], d = {0};
    UNROLL for (int k = 0; k < 9 * C; k++) a[k] = (vf){0};
    for (int64_t oh = 0; oh < g->Hf; oh++) {
        const float *row = xp + 2 * oh * rs;
        for (int64_t ow = 0; ow < g->Wf; ow++) {
            const float *r = row + 2 * ow * C;
            int64_t o = (oh * g->Wo + ow) * O + b;
            vf gv;
            vi at;
            load_grad(gy + o, idx + o, n, &gv, &at);
            d += pick(~eq_i(at, DEAD), gv, (vf){0});
            vf dz0 = pick(eq_i(at, 0), gv, (vf){0}), dz1 = pick(eq_i(at, 1), gv, (vf){0});
            vf dz2 = pick(eq_i(at, 2), gv, (vf){0}), dz3 = pick(eq_i(at, 3), gv, (vf){0});
            UNROLL for (int t = 0; t < 3; t++)
                UNROLL for (int l = 0; l < 3; l++)
                    UNROLL for (int c = 0; c < C; c++) {
                        int k = (t * 3 + l) * C + c;
                        const float *q = r + t * rs + l * C + c;
                        a[k] += BCAST(q[0]) * dz0, a[k] += BCAST(q[C]) * dz1;
                        a[k] += BCAST(q[rs]) * dz2, a[k] += BCAST(q[rs + C]) * dz3;
                    }
        }
    }
    UNROLL for (int k = 0; k < 9 * C; k++) acc[k] += a[k];
    *db += d;
}
#else
/* load_grad's lanes 8h .. 8h + 7 */
INLINE void load_grad8(const float *gy, const uint8_t *idx, int64_t n, int h, vf8 *gv, vi8 *at) {
    float gt[OB] = {0};
    uint8_t it[OB];
    const float *gs = gy;
    const uint8_t *is = idx;
    if (__builtin_expect(n != OB, 0)) { /* a short block: DEAD and 0 past its lanes */
        memset(it, DEAD, OB);
        memcpy(gt, gy, (size_t)n * sizeof(float));
        memcpy(it, idx, (size_t)n);
        gs = gt, is = it;
    }
    vb8 bytes;
    memcpy(&bytes, is + 8 * h, 8);
    memcpy(gv, gs + 8 * h, sizeof *gv);
    *at = __builtin_convertvector(bytes, vi8);
}

/* the same chains lane by lane, 8 lanes at a time: GCC keeps a 16-lane accumulator summed across a
 * loop in memory where the target's vectors hold 8 lanes (subpixel_conv.c says more), so each half
 * of the filter block takes its own sweep over the image, its 9 * C chains in registers */
INLINE void fast_grad(const float *xp, const float *gy, const uint8_t *idx, vf *acc, vf *db, const geom *g,
                      int64_t b, const int C) {
    int64_t rs = g->Wp * C, O = g->O, n = O - b < OB ? O - b : OB;
    const vf8 z = {0};
    UNROLL for (int h = 0; h < 2; h++) {
        vf8 a[27], d = z;
        UNROLL for (int k = 0; k < 9 * C; k++) a[k] = z;
        for (int64_t oh = 0; oh < g->Hf; oh++) {
            const float *row = xp + 2 * oh * rs;
            for (int64_t ow = 0; ow < g->Wf; ow++) {
                const float *r = row + 2 * ow * C;
                int64_t o = (oh * g->Wo + ow) * O + b;
                vf8 gv;
                vi8 at;
                load_grad8(gy + o, idx + o, n, h, &gv, &at);
                d += pick8(~(at == DEAD), gv, z);
                vf8 dz0 = pick8(at == 0, gv, z), dz1 = pick8(at == 1, gv, z);
                vf8 dz2 = pick8(at == 2, gv, z), dz3 = pick8(at == 3, gv, z);
                UNROLL for (int t = 0; t < 3; t++)
                    UNROLL for (int l = 0; l < 3; l++)
                        UNROLL for (int c = 0; c < C; c++) {
                            int k = (t * 3 + l) * C + c;
                            const float *q = r + t * rs + l * C + c;
                            a[k] += bcast8(q[0]) * dz0, a[k] += bcast8(q[C]) * dz1;
                            a[k] += bcast8(q[rs]) * dz2, a[k] += bcast8(q[rs + C]) * dz3;
                        }
            }
        }
        UNROLL for (int k = 0; k < 9 * C; k++) store8(acc + k, h, load8(acc + k, h) + a[k]);
        store8(db, h, load8(db, h) + d);
    }
}
#endif

static __attribute__((noinline)) void fast_grad1(const float *xp, const float *gy, const uint8_t *idx, vf *acc,
                                                  vf *db, const geom *g, int64_t b) {
    fast_grad(xp, gy, idx, acc, db, g, b, 1);
}
static __attribute__((noinline)) void fast_grad3(const float *xp, const float *gy, const uint8_t *idx, vf *acc,
                                                  vf *db, const geom *g, int64_t b) {
    fast_grad(xp, gy, idx, acc, db, g, b, 3);
}

#if defined(__AVX512F__)
/* AVX-512, an image of finite values only: the same sums by selection. A quad row r holds, per
 * pixel (r, q) and channel, the four inputs (r, q), (r, q + 1), (r + 1, q), (r + 1, q + 1): a window's
 * four inputs at one tap. A lane's x at its winner is one in-lane permute by idx, times dz (0 where
 * DEAD): one multiply-add per tap instead of four. The other three products are x * 0 = +-0 for
 * finite x, and adding +-0 leaves the chain as it is (it starts at +0, so it is never -0): the same
 * bits as fast_grad. Three quad rows at a time, on the stack (QROW floats each: wider images take
 * fast_grad). */
#define QROW 4096
#define QSTRIDE (QROW + 64) /* a row is built 16 quads at a time: up to 15 past its end */

static void build_quad_row(const float *xp, float *out, const geom *g, int64_t r) {
    int64_t C = g->C, rs = g->Wp * C, qn = (g->Wp - 1) * C; /* quads in the row */
    const float *r0 = xp + r * rs, *r1 = r0 + rs;        /* r1 + qn + C + 15: in the buffer's slack */
    for (int64_t f = 0; f < qn; f += 16) {
        __m512 a = _mm512_loadu_ps(r0 + f), a1 = _mm512_loadu_ps(r0 + f + C);
        __m512 c = _mm512_loadu_ps(r1 + f), c1 = _mm512_loadu_ps(r1 + f + C);
        __m512 lo1 = _mm512_unpacklo_ps(a, a1), hi1 = _mm512_unpackhi_ps(a, a1);
        __m512 lo2 = _mm512_unpacklo_ps(c, c1), hi2 = _mm512_unpackhi_ps(c, c1);
        __m512 q0 = (__m512)_mm512_unpacklo_pd((__m512d)lo1, (__m512d)lo2); /* quad 4k + 0 in lane k */
        __m512 q1 = (__m512)_mm512_unpackhi_pd((__m512d)lo1, (__m512d)lo2);
        __m512 q2 = (__m512)_mm512_unpacklo_pd((__m512d)hi1, (__m512d)hi2);
        __m512 q3 = (__m512)_mm512_unpackhi_pd((__m512d)hi1, (__m512d)hi2);
        __m512 t0 = _mm512_shuffle_f32x4(q0, q1, 0x44), t1 = _mm512_shuffle_f32x4(q2, q3, 0x44);
        __m512 t2 = _mm512_shuffle_f32x4(q0, q1, 0xEE), t3 = _mm512_shuffle_f32x4(q2, q3, 0xEE);
        _mm512_storeu_ps(out + 4 * f, _mm512_shuffle_f32x4(t0, t1, 0x88)); /* quads f .. f + 3 */
        _mm512_storeu_ps(out + 4 * f + 16, _mm512_shuffle_f32x4(t0, t1, 0xDD));
        _mm512_storeu_ps(out + 4 * f + 32, _mm512_shuffle_f32x4(t2, t3, 0x88));
        _mm512_storeu_ps(out + 4 * f + 48, _mm512_shuffle_f32x4(t2, t3, 0xDD));
    }
}

INLINE void fast_grad_select(const float *xp, const float *gy, const uint8_t *idx, vf *acc, vf *db,
                             const geom *g, int64_t b, const int C) {
    int64_t O = g->O, n = O - b < OB ? O - b : OB;
    float quads[3 * QSTRIDE]; /* quad row r in slot r % 3 */
    __m512 a[27], d = _mm512_setzero_ps();
    UNROLL for (int k = 0; k < 9 * C; k++) a[k] = _mm512_setzero_ps();
    build_quad_row(xp, quads, g, 0);
    for (int64_t oh = 0; oh < g->Hf; oh++) {
        build_quad_row(xp, quads + ((2 * oh + 1) % 3) * QSTRIDE, g, 2 * oh + 1);
        build_quad_row(xp, quads + ((2 * oh + 2) % 3) * QSTRIDE, g, 2 * oh + 2);
        const float *rows[3];
        for (int t = 0; t < 3; t++) rows[t] = quads + ((2 * oh + t) % 3) * QSTRIDE;
        for (int64_t ow = 0; ow < g->Wf; ow++) {
            int64_t o = (oh * g->Wo + ow) * O + b, q = 2 * ow * C * 4;
            vf gv;
            vi at;
            load_grad(gy + o, idx + o, n, &gv, &at);
            __mmask16 live = _mm512_cmpneq_epi32_mask((__m512i)at, _mm512_set1_epi32(DEAD));
            d = _mm512_mask_add_ps(d, live, d, (__m512)gv);
            __m512 dz = _mm512_maskz_mov_ps(live, (__m512)gv);
            UNROLL for (int t = 0; t < 3; t++)
                UNROLL for (int l = 0; l < 3; l++)
                    UNROLL for (int c = 0; c < C; c++) {
                        int k = (t * 3 + l) * C + c;
                        __m512 x4 = _mm512_broadcast_f32x4(_mm_loadu_ps(rows[t] + q + (l * C + c) * 4));
                        a[k] = _mm512_fmadd_ps(_mm512_permutevar_ps(x4, (__m512i)at), dz, a[k]);
                    }
        }
    }
    UNROLL for (int k = 0; k < 9 * C; k++) acc[k] += (vf)a[k];
    *db += (vf)d;
}

static __attribute__((noinline)) void fast_grad_select1(const float *xp, const float *gy, const uint8_t *idx,
                                                         vf *acc, vf *db, const geom *g, int64_t b) {
    fast_grad_select(xp, gy, idx, acc, db, g, b, 1);
}
static __attribute__((noinline)) void fast_grad_select3(const float *xp, const float *gy, const uint8_t *idx,
                                                         vf *acc, vf *db, const geom *g, int64_t b) {
    fast_grad_select(xp, gy, idx, acc, db, g, b, 3);
}
#define SELECT 1
#else
#define SELECT 0
#endif

void conv_pool_relu_backward(const float *x, const float *gy, const uint8_t *idx, float *dw, float *db,
                             float *scratch, float *padded, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int64_t taps = g.kh * g.kw * g.C, nw = taps * g.P, row = nw + g.P, chunks = chunks_of(&g);
    int64_t size = padded_size(&g), per = g.Ho * g.Wo * g.O;
    memset(scratch, 0, (size_t)(chunks * row) * sizeof(float));
#pragma omp parallel for schedule(static) if (g.N * g.Ho * g.Wo * g.O * g.ph * g.pw >= PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        float *part = scratch + k * row, *xp = padded + k * size;
        int64_t end = (k + 1) * CHUNK < g.N ? (k + 1) * CHUNK : g.N;
        for (int64_t n = k * CHUNK; n < end; n++) {
            float xmax = pad_image(x + n * g.H * g.W * g.C, xp, &g, n == k * CHUNK); /* inf: not finite */
            const float *gn = gy + n * per;
            const uint8_t *in = idx + n * per;
            int select = 0; /* the selecting variant of the specialised path (same sums) */
            (void)select, (void)xmax;
#if SELECT
            select = g.fast && (g.Wp - 1) * g.C * 4 <= QROW && xmax < __builtin_inff();
#endif
            for (int64_t b = 0; b < g.P; b += OB) {
                vf acc[TMAX], d = {0};
                for (int64_t e = 0; e < taps; e++) acc[e] = (vf){0};
                int64_t oh0 = 0; /* the first pooled row the generic path takes in full */
                if (g.fast) {
#if SELECT
                    if (select && g.C == 1) fast_grad_select1(xp, gn, in, acc, &d, &g, b);
                    else if (select) fast_grad_select3(xp, gn, in, acc, &d, &g, b);
                    else
#endif
                    if (g.C == 1) fast_grad1(xp, gn, in, acc, &d, &g, b);
                    else fast_grad3(xp, gn, in, acc, &d, &g, b);
                    for (int64_t oh = 0; oh < g.Hf; oh++)
                        for (int64_t ow = g.Wf; ow < g.Wo; ow++)
                            grad_pixel(xp, gn + (oh * g.Wo + ow) * g.O, in + (oh * g.Wo + ow) * g.O, acc, &d,
                                       &g, oh, ow, b);
                    oh0 = g.Hf;
                }
                for (int64_t oh = oh0; oh < g.Ho; oh++)
                    for (int64_t ow = 0; ow < g.Wo; ow++)
                        grad_pixel(xp, gn + (oh * g.Wo + ow) * g.O, in + (oh * g.Wo + ow) * g.O, acc, &d, &g,
                                   oh, ow, b);
                for (int64_t e = 0; e < taps; e++) storef(part + e * g.P + b, loadf(part + e * g.P + b) + acc[e]);
                storef(part + nw + b, loadf(part + nw + b) + d);
            }
        }
    }
    memset(dw, 0, (size_t)nw * sizeof(float));
    memset(db, 0, (size_t)g.P * sizeof(float));
    for (int64_t k = 0; k < chunks; k++) { /* in order: the same sums for any number of threads */
        const float *part = scratch + k * row;
        for (int64_t e = 0; e < nw; e++) dw[e] += part[e];
        for (int64_t o = 0; o < g.P; o++) db[o] += part[nw + o];
    }
}
