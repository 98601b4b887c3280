/* A stride-1 convolution with few input channels, max pooling (non-overlapping windows), ReLU: one
 * pass forward, one pass backward, on NHWC float32 tensors. For the first layer of an image model
 * (1-3 input channels), whose full-resolution output is the step's largest tensor: here it is never
 * stored. Built by convolab/native/build.py, driven by convolab/native/conv_pool.py. This header
 * holds what both passes share (types, geometry, the padded copy); conv_pool_relu.c is the forward,
 * conv_pool_relu_grad.c the backward.
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
 * 8 lanes (BCAST, eq_i, pool_select: GCC turns 16-lane ones into scalar code on AVX2), and the
 * specialised path sweeps each half of a filter block on its own (fast_pixels8, fast_grad): GCC keeps
 * 16-lane sums in memory there, moving them through the stack in pieces (1.16-1.29x forward, 1.4-1.5x
 * forward + backward on AVX2, the same bits).
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
#ifndef CONVOLAB_CONV_POOL_RELU_H
#define CONVOLAB_CONV_POOL_RELU_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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
INLINE vf8 pick8(vi8 mask, vf8 a, vf8 b) { return (vf8)((mask & (vi8)a) | (~mask & (vi8)b)); }
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

static int64_t chunks_of(const geom *g) { return (g->N + CHUNK - 1) / CHUNK; }

/* a chunk's padded image and SLACK floats after it (read, never used, by build_quad_row) */
#define SLACK 64
static int64_t padded_size(const geom *g) { return g->Hp * g->Wp * g->C + SLACK; }

#endif /* CONVOLAB_CONV_POOL_RELU_H */
