/* A stride-1 convolution with few input channels, max pooling (non-overlapping windows), ReLU: one
 * pass forward, one pass backward, on NHWC float32 tensors. For the first layer of an image model
 * (1-3 input channels), whose full-resolution output is the step's largest tensor: here it is never
 * stored. Built by convolab/native/build.py, driven by convolab/native/conv_pool.py.
 *
 * Forward, per pooled pixel: each window position's conv output z[o] = bias[o] + sum over taps
 * (t, l) and input channels c, in that order, of x * w (one fused multiply-add each), x read from a
 * zero-padded copy of the image (a padding tap adds 0 * w = 0); the window's first maximum wins (NaN
 * wins), as in pool_relu.c; then ReLU, with idx = the winner's position or DEAD (255) where the
 * pooled value is <= 0. Both paths below sum in this one order, so they give the same bits. Where
 * max |x| * sum |w| + |bias| < 1e37 for an image and a filter block (checked per image, the copy into
 * the padded image measuring max |x|), no partial sum can overflow, so no z is NaN and the
 * specialised path's pooling leaves out its NaN test: the same winners.
 *
 * Backward (the input needs no gradient: it is the data): dz is the pooled gradient at each
 * channel's winner (0 at the other positions and where idx is DEAD), so dw[t][l][c][o] = sum over
 * pooled pixels of dz[o] * x at the winner's tap, db[o] = sum of dz[o]; every window position's
 * product x * dz is added (an infinite x times a zero dz gives NaN, as in PyTorch's weight gradient).
 * The order: each image has accumulators of its own, per tap and filter block, starting at 0, one
 * chain each, that adds every window's products one at a time in position order. The generic path
 * takes the pooled pixels in row-major order; the specialised path the whole windows first, in
 * row-major order, then the cut-short ones (the last column's, top to bottom, then the last row's),
 * so with no cut-short window both paths give the same bits. An image's sums are then added into
 * its chunk's scratch row, images in order; chunks of CHUNK images run in parallel and are added in
 * order at the end: the result does not depend on the number of threads.
 *
 * Two paths: a specialised one for the lecture's first layer and its RGB twin (3x3 kernel, C = 1 or
 * 3, 2x2 windows): the taps unrolled, the filter block's weights held in registers, two pooled
 * pixels at a time forward (eight conv sums in flight to hide the FMA latency), the dw chains in
 * registers backward; cut-short windows (ceil mode) go to the generic path, which takes any geometry
 * within the limits: taps from an offset table, two pooled pixels' window positions eight conv sums
 * at a time (four for a last four). With AVX-512 the pooling's selections use mask registers
 * (intrinsics), and the specialised backward of an image with only finite values picks each lane's
 * x at its winner by a permute (fast_grad_select: one FMA per tap instead of four, the same bits);
 * elsewhere plain vector code computes the same values, its broadcasts and comparisons in halves of
 * 8 lanes (BCAST, eq_i, pool_select: GCC turns 16-lane ones into scalar code on AVX2).
 *
 * Filters go in blocks of OB = 16 lanes (GCC/Clang vector extensions: one AVX-512 register, two
 * AVX2 ones); the Python side pads the filters to P = a multiple of OB with zeros.
 * Layouts: x (N, H, W, C); wt (kh, kw, C, P); bias (P); y, idx (N, Ho, Wo, O); dw (kh, kw, C, P),
 * db (P); scratch (ceil(N / CHUNK), kh * kw * C * P + P); padded (ceil(N / CHUNK), Hp * Wp * C +
 * SLACK), one image (Hp, Wp, C) per chunk at a time (Hp, Wp = the conv output's size + kernel - 1):
 * its border is zeroed once per chunk, only the image's interior is copied per image. All memory
 * comes from the caller (but fast_grad_select's three quad rows, on the stack);
 * P <= PMAX, kh * kw * C <= TMAX, ph * pw <= WMAX (the Python side checks). dims: the 16 sizes of
 * geom below, then 1 where the specialised path may run (0: the generic path everywhere, for tests).
 */
#include <stdint.h>
#include <string.h>

#define DEAD 255
#define OB 16
#define PMAX 256
#define TMAX 75  /* kh * kw * C */
#define WMAX 254 /* window positions (a byte; DEAD is 255) */
#define CHUNK 8
#define PARALLEL_MIN 65536
#define NDIMS 17

typedef float vf __attribute__((vector_size(4 * OB)));
typedef int32_t vi __attribute__((vector_size(4 * OB)));
typedef uint8_t vb __attribute__((vector_size(OB)));
typedef float vf8 __attribute__((vector_size(32))); /* halves: see BCAST and pool_select */
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef uint8_t vb8 __attribute__((vector_size(8)));
typedef union {
    vf v;
    vf8 h[2];
} vf_halves;
typedef union {
    vi v;
    vi8 h[2];
} vi_halves;

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 32") /* the specialised path's loops: constant trip counts, all unrolled */

INLINE vf loadf(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
INLINE void storef(float *p, vf v) { memcpy(p, &v, sizeof v); }
INLINE vf pick(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

/* a scalar times a vector: with AVX-512 as it is (a broadcast, often folded into the FMA); elsewhere
 * the scalar is broadcast in halves of 8 lanes first (GCC broadcasts to a 16-lane vector through 16
 * stores to the stack where the target's vectors are 8 lanes wide) */
#if defined(__AVX512F__)
#define BCAST(x) (x)
#define BCASTI(x) ((vi){0} + (x))
#else
INLINE vf bcast(float x) { /* not 0 + x: that makes -0 into +0 */
    vf_halves u;
    u.h[0] = (vf8){x, x, x, x, x, x, x, x}, u.h[1] = u.h[0];
    return u.v;
}
INLINE vi bcasti(int32_t x) {
    vi_halves u;
    u.h[0] = (vi8){x, x, x, x, x, x, x, x}, u.h[1] = u.h[0];
    return u.v;
}
#define BCAST(x) bcast(x)
#define BCASTI(x) bcasti(x)
#endif

/* integer lane comparisons (all ones where true), in halves where AVX-512 is missing (as BCAST) */
INLINE vi eq_i(vi a, int32_t b) {
#if defined(__AVX512F__)
    return a == b;
#else
    vi_halves u = {a};
    u.h[0] = u.h[0] == b, u.h[1] = u.h[1] == b;
    return u.v;
#endif
}
INLINE vi gt_i(vi a, vi b) {
#if defined(__AVX512F__)
    return a > b;
#else
    vi_halves u = {a}, v = {b};
    u.h[0] = u.h[0] > v.h[0], u.h[1] = u.h[1] > v.h[1];
    return u.v;
#endif
}

typedef struct {
    int64_t N, H, W, C, O, P, kh, kw, pt, pl, Hz, Wz, ph, pw, Ho, Wo, fast;
    int64_t Hp, Wp;    /* the zero-padded image: every tap of every conv pixel inside it */
    int64_t Hf, Wf;    /* pooled rows / columns whose windows are whole (the rest: ceil mode) */
    int64_t off[TMAX]; /* tap k = (t, l, c): its input's offset from the patch's first, in floats */
    int64_t np, wr[WMAX], wq[WMAX]; /* window positions: row and column offsets, row-major */
} geom;

static void init_geom(geom *g, const int64_t *dims) {
    memcpy(g, dims, NDIMS * sizeof(int64_t));
    g->Hp = g->Hz + g->kh - 1, g->Wp = g->Wz + g->kw - 1;
    g->Hf = g->Hz / g->ph < g->Ho ? g->Hz / g->ph : g->Ho, g->Wf = g->Wz / g->pw < g->Wo ? g->Wz / g->pw : g->Wo;
    for (int64_t t = 0, k = 0; t < g->kh; t++)
        for (int64_t l = 0; l < g->kw; l++)
            for (int64_t c = 0; c < g->C; c++) g->off[k++] = (t * g->Wp + l) * g->C + c;
    g->np = 0;
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t j = 0; j < g->pw; j++) g->wr[g->np] = i, g->wq[g->np++] = j;
    /* the specialised path: 3x3 taps, C = 1 or 3, 2x2 windows */
    g->fast = g->fast && g->kh == 3 && g->kw == 3 && (g->C == 1 || g->C == 3) && g->ph == 2 && g->pw == 2;
}

/* a row of len floats from src to dst; the bits of their |x| into m, lane-wise maximum (see max_abs) */
INLINE void copy_row(float *dst, const float *src, int64_t len, vi *m) {
    if (len < OB) {
        memcpy(dst, src, (size_t)len * sizeof(float));
        for (int64_t e = 0; e < len; e++) {
            int32_t a;
            memcpy(&a, src + e, sizeof a);
            a &= 0x7fffffff;
            (*m)[0] = a > (*m)[0] ? a : (*m)[0];
        }
        return;
    }
    for (int64_t e = 0;; e += OB) {
        if (e + OB > len) e = len - OB; /* the last vector overlaps the one before */
        vf v = loadf(src + e);
        storef(dst + e, v);
        vi a = (vi)v & 0x7fffffff, gt = gt_i(a, *m);
        *m = (gt & a) | (~gt & *m);
        if (e + OB >= len) break;
    }
}

/* the largest |x| from copy_row's lanes: inf where one was a NaN or an infinity (for |x|, the sign
 * bit cleared, the integer order of the bits is the float order, inf and NaN above all) */
static float lanes_max_abs(vi m) {
    int32_t r = 0;
    for (int o = 0; o < OB; o++) r = m[o] > r ? m[o] : r;
    if (r >= 0x7f800000) return __builtin_inff();
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* image x (H, W, C) into xp (Hp, Wp, C) at (pt, pl), zeros around (rows/columns the conv never
 * reads, past a 'valid' conv's reach, are dropped); returns the largest |x| copied (lanes_max_abs).
 * The zeros are written for the chunk's first image only (first != 0): the next images overwrite
 * the same interior and nothing else. */
static float pad_image(const float *x, float *xp, const geom *g, int first) {
    if (first) memset(xp, 0, (size_t)(g->Hp * g->Wp * g->C) * sizeof(float));
    int64_t w0 = g->pl < 0 ? -g->pl : 0, w1 = g->W + g->pl > g->Wp ? g->Wp - g->pl : g->W;
    vi m = {0};
    if (w1 <= w0) return 0.0f;
    for (int64_t h = 0; h < g->H; h++) {
        int64_t rp = h + g->pt;
        if (rp < 0 || rp >= g->Hp) continue;
        copy_row(xp + (rp * g->Wp + w0 + g->pl) * g->C, x + (h * g->W + w0) * g->C, (w1 - w0) * g->C, &m);
    }
    return lanes_max_abs(m);
}

/* the pooled window's conv pixels, as pointers to their patches in the padded image */
static int64_t window_patches(const float *xp, const geom *g, int64_t oh, int64_t ow, const float **patch,
                              int32_t *pos) {
    int64_t m = 0;
    for (int64_t p = 0; p < g->np; p++) {
        int64_t r = oh * g->ph + g->wr[p], q = ow * g->pw + g->wq[p];
        if (r >= g->Hz || q >= g->Wz) continue; /* a window cut short by the end (ceil mode) */
        patch[m] = xp + (r * g->Wp + q) * g->C;
        pos[m++] = (int32_t)p;
    }
    return m;
}

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
#include <immintrin.h>

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

INLINE vf8 pick8(vi8 mask, vf8 a, vf8 b) { return (vf8)((mask & (vi8)a) | (~mask & (vi8)b)); }

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

/* a pooled pixel's gradient and winners for a filter block of n lanes (DEAD, 0 past them) */
INLINE void load_grad(const float *gy, const uint8_t *idx, int64_t n, vf *gv, vi *at) {
    vb bytes;
    if (__builtin_expect(n == OB, 1)) {
        memcpy(&bytes, idx, OB);
        *gv = loadf(gy);
    } else {
        float gt[OB] = {0};
        uint8_t it[OB];
        memset(it, DEAD, OB);
        memcpy(gt, gy, (size_t)n * sizeof(float));
        memcpy(it, idx, (size_t)n);
        memcpy(&bytes, it, OB);
        *gv = loadf(gt);
    }
#if defined(__AVX512F__)
    *at = __builtin_convertvector(bytes, vi);
#else
    vi_halves u;
    vb8 lo, hi;
    memcpy(&lo, &bytes, 8), memcpy(&hi, (const uint8_t *)&bytes + 8, 8);
    u.h[0] = __builtin_convertvector(lo, vi8), u.h[1] = __builtin_convertvector(hi, vi8);
    *at = u.v;
#endif
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

static int64_t chunks_of(const geom *g) { return (g->N + CHUNK - 1) / CHUNK; }

/* a chunk's padded image and SLACK floats after it (read, never used, by build_quad_row) */
#define SLACK 64
static int64_t padded_size(const geom *g) { return g->Hp * g->Wp * g->C + SLACK; }

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
