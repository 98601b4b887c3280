/* A stride-1 convolution with few input channels, max pooling (non-overlapping windows), ReLU: one
 * pass forward, one pass backward, on NHWC float32 tensors. For the first layer of an image model
 * (1-3 input channels), whose full-resolution output is the step's largest tensor: here it is never
 * stored. Built by convolab/native/build.py, driven by convolab/native/conv_pool.py.
 *
 * Forward, per pooled pixel: each window position's conv output z[o] = bias[o] + sum over taps
 * (t, l) and input channels c, in that order, of x * w, x read from a zero-padded copy of the image
 * (a padding tap adds 0 * w = 0); the window's first maximum wins (NaN wins), as in pool_relu.c;
 * then ReLU, with idx = the winner's position or DEAD (255) where the pooled value is <= 0.
 *
 * Backward (the input needs no gradient: it is the data): dz is the pooled gradient at each
 * channel's winner, so dw[t][l][c][o] = sum over pooled pixels of dz[o] * x at the winner's tap,
 * db[o] = sum of dz[o]. Sums run per chunk of CHUNK images into scratch rows (in parallel), then the
 * chunks are added in order: the result does not depend on the number of threads.
 *
 * Filters go in blocks of OB = 16 lanes (GCC/Clang vector extensions: one AVX-512 register, two
 * AVX2 ones); the Python side pads the filters to P = a multiple of OB with zeros.
 * Layouts: x (N, H, W, C); wt (kh, kw, C, P); bias (P); y, idx (N, Ho, Wo, O); dw (kh, kw, C, P),
 * db (P); scratch (ceil(N / CHUNK), kh * kw * C * P + P); padded (ceil(N / CHUNK), Hp, Wp, C), one
 * image per chunk at a time (Hp, Wp = the conv output's size + kernel - 1). All memory comes from
 * the caller; P <= PMAX, kh * kw * C <= TMAX, ph * pw <= WMAX (the Python side checks).
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

typedef float vf __attribute__((vector_size(4 * OB)));
typedef int32_t vi __attribute__((vector_size(4 * OB)));
typedef uint8_t vb __attribute__((vector_size(OB)));

static inline vf loadf(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void storef(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf pick(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }

typedef struct {
    int64_t N, H, W, C, O, P, kh, kw, pt, pl, Hz, Wz, ph, pw, Ho, Wo;
    int64_t Hp, Wp;    /* the zero-padded image: every tap of every conv pixel inside it */
    int64_t off[TMAX]; /* tap k = (t, l, c): its input's offset from the patch's first, in floats */
    int64_t np, wr[WMAX], wq[WMAX]; /* window positions: row and column offsets, row-major */
} geom;

static void init_geom(geom *g, const int64_t *dims) {
    memcpy(g, dims, 16 * sizeof(int64_t));
    g->Hp = g->Hz + g->kh - 1, g->Wp = g->Wz + g->kw - 1;
    for (int64_t t = 0, k = 0; t < g->kh; t++)
        for (int64_t l = 0; l < g->kw; l++)
            for (int64_t c = 0; c < g->C; c++) g->off[k++] = (t * g->Wp + l) * g->C + c;
    g->np = 0;
    for (int64_t i = 0; i < g->ph; i++)
        for (int64_t j = 0; j < g->pw; j++) g->wr[g->np] = i, g->wq[g->np++] = j;
}

/* image x (H, W, C) into xp (Hp, Wp, C) at (pt, pl), zeros around (rows/columns the conv never
 * reads, past a 'valid' conv's reach, are dropped) */
static void pad_image(const float *x, float *xp, const geom *g) {
    memset(xp, 0, (size_t)(g->Hp * g->Wp * g->C) * sizeof(float));
    for (int64_t h = 0; h < g->H; h++) {
        int64_t rp = h + g->pt;
        if (rp < 0 || rp >= g->Hp) continue;
        for (int64_t w = 0; w < g->W; w++) {
            int64_t qp = w + g->pl;
            if (qp < 0 || qp >= g->Wp) continue;
            memcpy(xp + (rp * g->Wp + qp) * g->C, x + (h * g->W + w) * g->C, (size_t)g->C * sizeof(float));
        }
    }
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

/* conv outputs of up to four patches for filter block b: four independent sums hide FMA latency */
static inline void conv_four(const float **patch, int64_t m, const float *wt, vf b0, const geom *g,
                             int64_t b, vf *z) {
    const float *p0 = patch[0], *p1 = patch[m > 1], *p2 = patch[m > 2 ? 2 : 0], *p3 = patch[m > 3 ? 3 : 0];
    vf a0 = b0, a1 = b0, a2 = b0, a3 = b0;
    int64_t taps = g->kh * g->kw * g->C;
    for (int64_t k = 0; k < taps; k++) {
        vf w = loadf(wt + b + k * g->P);
        int64_t o = g->off[k];
        a0 += p0[o] * w;
        a1 += p1[o] * w;
        a2 += p2[o] * w;
        a3 += p3[o] * w;
    }
    z[0] = a0, z[1] = a1, z[2] = a2, z[3] = a3;
}

static void pooled_pixel(const float *xp, const float *wt, const float *bias, float *y, uint8_t *idx,
                         const geom *g, int64_t oh, int64_t ow) {
    const float *patch[WMAX];
    int32_t pos[WMAX];
    int64_t m = window_patches(xp, g, oh, ow, patch, pos);
    for (int64_t b = 0; b < g->P; b += OB) {
        vf best = {0}, z[4];
        vi at = {0};
        for (int64_t s = 0; s < m; s += 4) { /* window positions in row-major order */
            int64_t k = m - s < 4 ? m - s : 4;
            conv_four(patch + s, k, wt, loadf(bias + b), g, b, z);
            for (int64_t u = 0; u < k; u++) {
                vi take = (z[u] > best) | (z[u] != z[u]);
                if (s + u == 0) take = (vi){0} - 1;
                best = pick(take, z[u], best);
                at = (take & pos[s + u]) | (~take & at);
            }
        }
        vi dead = best <= (vf){0};
        at = (dead & DEAD) | (~dead & at);
        best = pick(best < (vf){0}, (vf){0}, best); /* relu keeps NaN, as torch.relu does */
        int64_t n = g->O - b < OB ? g->O - b : OB;
        if (n == OB) {
            storef(y + b, best);
            vb bytes = __builtin_convertvector(at, vb);
            memcpy(idx + b, &bytes, OB);
        } else {
            for (int64_t o = 0; o < n; o++) y[b + o] = best[o], idx[b + o] = (uint8_t)at[o];
        }
    }
}

static int64_t chunks_of(const geom *g) { return (g->N + CHUNK - 1) / CHUNK; }

void conv_pool_relu_forward(const float *x, const float *wt, const float *bias, float *y, uint8_t *idx,
                            float *padded, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int64_t chunks = chunks_of(&g), size = g.Hp * g.Wp * g.C;
#pragma omp parallel for schedule(static) if (g.N * g.Hz * g.Wz * g.O >= PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        float *xp = padded + k * size;
        int64_t end = (k + 1) * CHUNK < g.N ? (k + 1) * CHUNK : g.N;
        for (int64_t n = k * CHUNK; n < end; n++) {
            pad_image(x + n * g.H * g.W * g.C, xp, &g);
            for (int64_t oh = 0; oh < g.Ho; oh++)
                for (int64_t ow = 0; ow < g.Wo; ow++) {
                    int64_t o = ((n * g.Ho + oh) * g.Wo + ow) * g.O;
                    pooled_pixel(xp, wt, bias, y + o, idx + o, &g, oh, ow);
                }
        }
    }
}

/* one pooled pixel's share of dw and db, filter block b: each tap's four products added, then once
 * into dw (the taps are independent chains) */
static void grad_pixel(const float *xp, const float *gy, const uint8_t *idx, float *dw, float *db,
                       const geom *g, int64_t oh, int64_t ow, int64_t b) {
    const float *patch[WMAX];
    int32_t pos[WMAX];
    int64_t m = window_patches(xp, g, oh, ow, patch, pos), n = g->O - b < OB ? g->O - b : OB;
    vf gv = {0};
    vi at = (vi){0} + DEAD;
    if (n == OB) {
        vb bytes;
        memcpy(&bytes, idx + b, OB);
        gv = loadf(gy + b), at = __builtin_convertvector(bytes, vi);
    } else {
        for (int64_t o = 0; o < n; o++) gv[o] = gy[b + o], at[o] = idx[b + o];
    }
    storef(db + b, loadf(db + b) + pick(at != DEAD, gv, (vf){0}));
    int64_t taps = g->kh * g->kw * g->C;
    for (int64_t s = 0; s < m; s += 4) {
        int64_t k4 = m - s < 4 ? m - s : 4;
        vf dz[4] = {{0}, {0}, {0}, {0}};
        const float *pp[4] = {patch[s], patch[s], patch[s], patch[s]};
        for (int64_t u = 0; u < k4; u++) dz[u] = pick(at == pos[s + u], gv, (vf){0}), pp[u] = patch[s + u];
        for (int64_t k = 0; k < taps; k++) {
            int64_t o = g->off[k];
            vf sum = pp[0][o] * dz[0] + pp[1][o] * dz[1] + (pp[2][o] * dz[2] + pp[3][o] * dz[3]);
            storef(dw + k * g->P + b, loadf(dw + k * g->P + b) + sum);
        }
    }
}

void conv_pool_relu_backward(const float *x, const float *gy, const uint8_t *idx, float *dw, float *db,
                             float *scratch, float *padded, const int64_t *dims) {
    geom g;
    init_geom(&g, dims);
    int64_t nw = g.kh * g.kw * g.C * g.P, row = nw + g.P, chunks = chunks_of(&g), size = g.Hp * g.Wp * g.C;
    memset(scratch, 0, (size_t)(chunks * row) * sizeof(float));
#pragma omp parallel for schedule(static) if (g.N * g.Ho * g.Wo * g.O * g.ph * g.pw >= PARALLEL_MIN)
    for (int64_t k = 0; k < chunks; k++) {
        float *part = scratch + k * row, *xp = padded + k * size;
        int64_t end = (k + 1) * CHUNK < g.N ? (k + 1) * CHUNK : g.N;
        for (int64_t n = k * CHUNK; n < end; n++) {
            pad_image(x + n * g.H * g.W * g.C, xp, &g);
            for (int64_t oh = 0; oh < g.Ho; oh++)
                for (int64_t ow = 0; ow < g.Wo; ow++) {
                    int64_t o = ((n * g.Ho + oh) * g.Wo + ow) * g.O;
                    for (int64_t b = 0; b < g.P; b += OB)
                        grad_pixel(xp, gy + o, idx + o, part, part + nw, &g, oh, ow, b);
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
