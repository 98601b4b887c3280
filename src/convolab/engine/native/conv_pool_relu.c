/* conv_pool_relu's forward: the pooled values and their winners (conv_pool_relu.h says what and how). */
#include "conv_pool_relu.h"

/* a pooled pixel's running maximum over its window's positions, in row-major order */
typedef struct {
    vf best;
    vi at;
} pool_state;

INLINE void pool_first(pool_state *s, vf z, int32_t pos) { s->best = z, s->at = BCASTI(pos); }

#if defined(__AVX512F__)
/* AVX-512: the same selections with mask registers, one blend each (GCC's generic code spends two
 * instructions per pick), and ReLU as max(0, v), which returns v where v is NaN and keeps -0, as
 * pick(v < 0, 0, v) does */

INLINE void pool_next(pool_state *s, vf z, int32_t pos) {
    __m512 v = (__m512)z, best = (__m512)s->best;
    __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    s->best = (vf)_mm512_mask_blend_ps(take, best, v);
    s->at = (vi)_mm512_mask_set1_epi32((__m512i)s->at, take, pos);
}

/* the same where no z can be NaN (pool_next's NaN test always false) */
INLINE void pool_next_gt(pool_state *s, vf z, int32_t pos) {
    __m512 v = (__m512)z, best = (__m512)s->best;
    __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
    s->best = (vf)_mm512_mask_blend_ps(take, best, v);
    s->at = (vi)_mm512_mask_set1_epi32((__m512i)s->at, take, pos);
}

INLINE void relu_winner(const pool_state *s, vf *best, vb *bytes) {
    __m512 v = (__m512)s->best;
    __mmask16 dead = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ);
    *best = (vf)_mm512_max_ps(_mm512_setzero_ps(), v);
    *bytes = (vb)_mm512_cvtepi32_epi8(_mm512_mask_set1_epi32((__m512i)s->at, dead, DEAD));
}
#else
/* elsewhere, in halves of 8 lanes: GCC lowers a 16-lane float comparison that the target has no
 * instruction for (AVX2: 8 lanes) to scalar code, an 8-lane one to vector instructions */

INLINE void pool_select(pool_state *s, vf z, int32_t pos, const int nan) {
    vf_halves v = {z}, best = {s->best};
    vi_halves at = {s->at};
    UNROLL for (int i = 0; i < 2; i++) {
        vi8 take = v.h[i] > best.h[i]; /* the first maximum wins */
        if (nan) take |= v.h[i] != v.h[i]; /* NaN wins */
        best.h[i] = pick8(take, v.h[i], best.h[i]);
        at.h[i] = (take & pos) | (~take & at.h[i]);
    }
    s->best = best.v, s->at = at.v;
}

INLINE void pool_next(pool_state *s, vf z, int32_t pos) { pool_select(s, z, pos, 1); }

/* the same where no z can be NaN (pool_next's NaN test always false) */
INLINE void pool_next_gt(pool_state *s, vf z, int32_t pos) { pool_select(s, z, pos, 0); }

INLINE void relu_winner(const pool_state *s, vf *best, vb *bytes) {
    vf_halves v = {s->best};
    vi_halves at = {s->at};
    uint8_t out[OB];
    UNROLL for (int i = 0; i < 2; i++) {
        vi8 dead = v.h[i] <= (vf8){0};
        v.h[i] = pick8(v.h[i] < (vf8){0}, (vf8){0}, v.h[i]); /* relu keeps NaN, as torch.relu does */
        vb8 b8 = __builtin_convertvector((dead & DEAD) | (~dead & at.h[i]), vb8);
        memcpy(out + 8 * i, &b8, 8);
    }
    *best = v.v;
    memcpy(bytes, out, OB);
}
#endif

/* ReLU and the winner (DEAD where the pooled value is <= 0) into y, idx: n of the block's lanes (a
 * short block goes through a local copy, so the vector code is the same) */
INLINE void pool_store(const pool_state *s, float *y, uint8_t *idx, int64_t n) {
    vf best;
    vb bytes;
    relu_winner(s, &best, &bytes);
    if (__builtin_expect(n == OB, 1)) {
        storef(y, best);
        memcpy(idx, &bytes, OB);
    } else {
        float yt[OB];
        storef(yt, best);
        memcpy(y, yt, (size_t)n * sizeof(float));
        memcpy(idx, &bytes, (size_t)n);
    }
}

/* ---- the generic path ---- */

/* conv outputs of eight (or four: W = 4) patches for filter block b: independent sums hide FMA latency */
INLINE void conv_group(const float *const *p, const float *wt, vf b0, const geom *g, int64_t b, vf *z, const int W) {
    vf a[8];
    UNROLL for (int u = 0; u < W; u++) a[u] = b0;
    int64_t taps = g->kh * g->kw * g->C;
    const float *w = wt + b;
    for (int64_t k = 0; k < taps; k++, w += g->P) {
        vf wv = loadf(w);
        int64_t o = g->off[k];
        UNROLL for (int u = 0; u < W; u++) a[u] += BCAST(p[u][o]) * wv;
    }
    UNROLL for (int u = 0; u < W; u++) z[u] = a[u];
}

/* pooled pixels (oh, ow) and, where pair, (oh, ow + 1): their window positions' conv outputs eight
 * or four at a time (the last group padded with repeats), each fed to its pixel's running maximum */
static void pooled_pixels(const float *xp, const float *wt, const float *bias, float *y, uint8_t *idx,
                          const geom *g, int64_t oh, int64_t ow, int pair) {
    const float *patch[2 * WMAX + 8];
    int32_t pos[2 * WMAX];
    int64_t m0 = window_patches(xp, g, oh, ow, patch, pos), m = m0;
    if (pair) m += window_patches(xp, g, oh, ow + 1, patch + m0, pos + m0);
    for (int64_t e = m; e < m + 8; e++) patch[e] = xp; /* repeats of a patch: computed, never pooled */
    for (int64_t b = 0; b < g->P; b += OB) {
        pool_state s[2] = {{{0}, {0}}, {{0}, {0}}}; /* m >= 1: always set, but the compiler cannot tell */
        vf z[8], b0 = loadf(bias + b);
        for (int64_t e = 0, step; e < m; e += step) {
            step = m - e > 4 ? 8 : 4; /* four at the end where four are left: fewer repeats computed */
            if (step == 8) conv_group(patch + e, wt, b0, g, b, z, 8);
            else conv_group(patch + e, wt, b0, g, b, z, 4);
            for (int64_t u = 0; u < step && e + u < m; u++) {
                int64_t i = e + u, side = i >= m0;
                if (i == 0 || i == m0) pool_first(&s[side], z[u], pos[i]);
                else pool_next(&s[side], z[u], pos[i]);
            }
        }
        int64_t n = g->O - b < OB ? g->O - b : OB;
        pool_store(&s[0], y + b, idx + b, n);
        if (pair) pool_store(&s[1], y + g->O + b, idx + g->O + b, n);
    }
}

/* ---- the specialised path: 3x3 taps, C in {1, 3}, 2x2 windows ---- */

#if defined(__AVX512F__)
/* U (1 or 2) pooled pixels side by side at row pointer r (the padded image at the windows' top-left
 * conv pixel's patch), filter block weights w[9 * C] and bias b0: 4 * U conv sums, pooled */
INLINE void fast_pixels(const float *r, int64_t rs, const vf *w, vf b0, const int C, const int U, const int F,
                        pool_state *s) {
    const float *rows[4] = {r, r + rs, r + 2 * rs, r + 3 * rs};
    vf z[2][4];
    UNROLL for (int u = 0; u < U; u++)
        UNROLL for (int p = 0; p < 4; p++) z[u][p] = b0;
    UNROLL for (int t = 0; t < 3; t++)
        UNROLL for (int l = 0; l < 3; l++)
            UNROLL for (int c = 0; c < C; c++) {
                vf wv = w[(t * 3 + l) * C + c];
                UNROLL for (int u = 0; u < U; u++)
                    UNROLL for (int i = 0; i < 2; i++)
                        UNROLL for (int j = 0; j < 2; j++)
                            z[u][i * 2 + j] += BCAST(rows[i + t][(2 * u + j + l) * C + c]) * wv;
            }
    UNROLL for (int u = 0; u < U; u++) {
        pool_first(&s[u], z[u][0], 0);
        UNROLL for (int p = 1; p < 4; p++) {
            if (F) pool_next_gt(&s[u], z[u][p], p); /* F: no z can be NaN */
            else pool_next(&s[u], z[u][p], p);
        }
    }
}

/* one filter block's whole windows of one image (F: no conv sum can be NaN) */
INLINE void fast_block(const float *xp, const float *wt, const float *bias, float *y, uint8_t *idx,
                       const geom *g, int64_t b, const int C, const int F) {
    int64_t rs = g->Wp * C, O = g->O, n = O - b < OB ? O - b : OB;
    vf w[27], b0 = loadf(bias + b);
    UNROLL for (int k = 0; k < 9 * C; k++) w[k] = loadf(wt + k * g->P + b);
    for (int64_t oh = 0; oh < g->Hf; oh++) {
        const float *row = xp + 2 * oh * rs;
        float *yr = y + oh * g->Wo * O + b;
        uint8_t *ir = idx + oh * g->Wo * O + b;
        int64_t ow = 0;
        pool_state s[2];
        for (; ow + 1 < g->Wf; ow += 2) {
            fast_pixels(row + 2 * ow * C, rs, w, b0, C, 2, F, s);
            pool_store(&s[0], yr + ow * O, ir + ow * O, n);
            pool_store(&s[1], yr + (ow + 1) * O, ir + (ow + 1) * O, n);
        }
        if (ow < g->Wf) {
            fast_pixels(row + 2 * ow * C, rs, w, b0, C, 1, F, s);
            pool_store(&s[0], yr + ow * O, ir + ow * O, n);
        }
    }
}
#else
/* Elsewhere the same sums, selections and stores 8 lanes at a time, one half of the filter block after
 * the other: the 4 * U 16-lane sums with their weights and pooling state do not fit AVX2's 16 vector
 * registers (GCC then moves them through the stack in pieces); a half's do. A half holding only the
 * zero filters that pad the block (O - b <= 8) is skipped: its lanes are never stored. */

/* fast_pixels for lanes 8h .. 8h + 7 (weights w, bias b0 of that half), pooled as pool_first then
 * pool_next / pool_next_gt, with ReLU and winners stored as pool_store does: nh of the 8 lanes */
INLINE void fast_pixels8(const float *r, int64_t rs, const vf8 *w, vf8 b0, const int C, const int U, const int F,
                         float *y, uint8_t *idx, int64_t O, int64_t nh) {
    const float *rows[4] = {r, r + rs, r + 2 * rs, r + 3 * rs};
    const vf8 zero = {0};
    vf8 z[2][4];
    UNROLL for (int u = 0; u < U; u++)
        UNROLL for (int p = 0; p < 4; p++) z[u][p] = b0;
    UNROLL for (int t = 0; t < 3; t++)
        UNROLL for (int l = 0; l < 3; l++)
            UNROLL for (int c = 0; c < C; c++) {
                vf8 wv = w[(t * 3 + l) * C + c];
                UNROLL for (int u = 0; u < U; u++)
                    UNROLL for (int i = 0; i < 2; i++)
                        UNROLL for (int j = 0; j < 2; j++) {
                            float x = rows[i + t][(2 * u + j + l) * C + c];
                            z[u][i * 2 + j] += (vf8){x, x, x, x, x, x, x, x} * wv;
                        }
            }
    UNROLL for (int u = 0; u < U; u++) {
        vf8 best = z[u][0];
        vi8 at = {0};
        UNROLL for (int p = 1; p < 4; p++) {
            vi8 take = z[u][p] > best; /* the first maximum wins */
            if (!F) take |= z[u][p] != z[u][p]; /* NaN wins (F: no z can be NaN) */
            best = pick8(take, z[u][p], best);
            at = (take & p) | (~take & at);
        }
        vi8 dead = best <= zero;
        vf8 v = pick8(best < zero, zero, best); /* relu keeps NaN, as torch.relu does */
        vb8 bytes = __builtin_convertvector((dead & DEAD) | (~dead & at), vb8);
        if (__builtin_expect(nh == 8, 1)) { /* a constant size: two moves, not a string copy */
            memcpy(y + u * O, &v, sizeof v);
            memcpy(idx + u * O, &bytes, sizeof bytes);
        } else {
            memcpy(y + u * O, &v, (size_t)nh * sizeof(float));
            memcpy(idx + u * O, &bytes, (size_t)nh);
        }
    }
}

INLINE void fast_block(const float *xp, const float *wt, const float *bias, float *y, uint8_t *idx,
                       const geom *g, int64_t b, const int C, const int F) {
    int64_t rs = g->Wp * C, O = g->O, n = O - b < OB ? O - b : OB;
    UNROLL for (int h = 0; h < 2; h++) {
        int64_t nh = n - 8 * h < 8 ? n - 8 * h : 8;
        if (nh <= 0) break;
        vf8 w[27], b0;
        memcpy(&b0, bias + b + 8 * h, sizeof b0);
        UNROLL for (int k = 0; k < 9 * C; k++) memcpy(&w[k], wt + k * g->P + b + 8 * h, sizeof w[k]);
        for (int64_t oh = 0; oh < g->Hf; oh++) {
            const float *row = xp + 2 * oh * rs;
            float *yr = y + oh * g->Wo * O + b + 8 * h;
            uint8_t *ir = idx + oh * g->Wo * O + b + 8 * h;
            int64_t ow = 0;
            for (; ow + 1 < g->Wf; ow += 2)
                fast_pixels8(row + 2 * ow * C, rs, w, b0, C, 2, F, yr + ow * O, ir + ow * O, O, nh);
            if (ow < g->Wf) fast_pixels8(row + 2 * ow * C, rs, w, b0, C, 1, F, yr + ow * O, ir + ow * O, O, nh);
        }
    }
}
#endif

#define FAST_BLOCK(name, C, F)                                                                            \
    static __attribute__((noinline)) void name(const float *xp, const float *wt, const float *bias, float *y, \
                                               uint8_t *idx, const geom *g, int64_t b) {                 \
        fast_block(xp, wt, bias, y, idx, g, b, C, F);                                                     \
    }
FAST_BLOCK(fast_block1, 1, 0)
FAST_BLOCK(fast_block1_finite, 1, 1)
FAST_BLOCK(fast_block3, 3, 0)
FAST_BLOCK(fast_block3_finite, 3, 1)

/* per filter block: the largest sum over taps of |w| and the largest |bias| (NaN or inf where a
 * weight or bias is not finite): with max |x| they bound every partial conv sum */
static void block_bounds(const float *wt, const float *bias, const geom *g, float *ws, float *bs) {
    int64_t taps = g->kh * g->kw * g->C;
    for (int64_t b = 0; b < g->P; b += OB) {
        float wmax = 0.0f, bmax = 0.0f;
        for (int64_t o = b; o < b + OB; o++) {
            float sum = 0.0f, v = bias[o] < 0 ? -bias[o] : bias[o];
            for (int64_t k = 0; k < taps; k++) sum += wt[k * g->P + o] < 0 ? -wt[k * g->P + o] : wt[k * g->P + o];
            wmax = sum > wmax || sum != sum ? sum : wmax; /* NaN sticks */
            bmax = v > bmax || v != v ? v : bmax;
            if (wmax != wmax || bmax != bmax) wmax = __builtin_inff();
        }
        ws[b / OB] = wmax, bs[b / OB] = bmax;
    }
}

void conv_pool_relu_forward(const float *x, const float *wt, const float *bias, float *y, uint8_t *idx,
                            float *padded, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int64_t chunks = chunks_of(&g), size = padded_size(&g), hwc = g.H * g.W * g.C;
    float ws[PMAX / OB], bs[PMAX / OB];
    if (g.fast) block_bounds(wt, bias, &g, ws, bs);
#pragma omp parallel for schedule(static) if (g.N * g.Hz * g.Wz * g.O >= PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        float *xp = padded + k * size;
        int64_t end = (k + 1) * CHUNK < g.N ? (k + 1) * CHUNK : g.N;
        for (int64_t n = k * CHUNK; n < end; n++) {
            /* where max |x| * sum |w| + |bias| stays far below FLT_MAX, no partial conv sum of the
             * image can overflow, so none is NaN and the pooling skips its NaN test (the same result) */
            float xmax = pad_image(x + n * hwc, xp, &g, n == k * CHUNK);
            float *yn = y + n * g.Ho * g.Wo * g.O;
            uint8_t *in = idx + n * g.Ho * g.Wo * g.O;
            int64_t oh0 = 0; /* the first pooled row the generic path takes in full */
            if (g.fast) {
                for (int64_t b = 0; b < g.P; b += OB) {
                    int finite = xmax * ws[b / OB] + bs[b / OB] < 1e37f; /* false for NaN */
                    if (g.C == 1 && finite) fast_block1_finite(xp, wt, bias, yn, in, &g, b);
                    else if (g.C == 1) fast_block1(xp, wt, bias, yn, in, &g, b);
                    else if (finite) fast_block3_finite(xp, wt, bias, yn, in, &g, b);
                    else fast_block3(xp, wt, bias, yn, in, &g, b);
                }
                for (int64_t oh = 0; oh < g.Hf; oh++) /* the last column's cut-short windows */
                    for (int64_t ow = g.Wf; ow < g.Wo; ow++) {
                        int64_t o = (oh * g.Wo + ow) * g.O;
                        pooled_pixels(xp, wt, bias, yn + o, in + o, &g, oh, ow, 0);
                    }
                oh0 = g.Hf;
            }
            for (int64_t oh = oh0; oh < g.Ho; oh++)
                for (int64_t ow = 0; ow < g.Wo; ow += 2) {
                    int64_t o = (oh * g.Wo + ow) * g.O;
                    pooled_pixels(xp, wt, bias, yn + o, in + o, &g, oh, ow, ow + 1 < g.Wo);
                }
        }
    }
}

/* ---- backward ---- */

