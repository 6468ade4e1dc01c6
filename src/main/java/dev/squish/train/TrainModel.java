package dev.squish.train;

import dev.squish.SquishException;
import dev.squish.formats.ModelConfig;
import dev.squish.model.Block;
import dev.squish.model.Model;
import dev.squish.weights.Bf16DenseLinear;
import dev.squish.weights.DenseLinear;
import dev.squish.weights.Linear;
import dev.squish.weights.LowRankLinear;
import dev.squish.weights.NMSparseLinear;
import dev.squish.weights.SparseLinear;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model prepared for training: double copies of its weights as {@link Param}s, each linear in a
 * {@link TrainLinear} that keeps its format's constraints, and the forward pass of both families
 * written out op by op with its reverse-mode gradient.
 *
 * <p>Memory: the forward keeps only each block's input ([n, width] per block); the backward
 * recomputes one block at a time (activation recomputation: attention probabilities alone would
 * be batch * heads * seq^2 doubles per block, 8 MB for 8 x 8 x 128^2, times the layer count).
 */
public final class TrainModel {
    final Model model;
    final ModelConfig c;
    final boolean llama;
    final Param embed, positions, finalNorm, finalNormBias;
    final TrainLinear head;
    final List<Map<String, TrainLinear>> linears = new ArrayList<>();
    final List<Map<String, Param>> vectors = new ArrayList<>();
    final boolean lora;
    private double[] cos, sin;
    private int ropeLen;

    /**
     * @param loraRank 0 trains every weight in its format (masks kept); R > 0 freezes the model and
     *                 trains rank-R adapters on every block linear
     */
    public TrainModel(Model m, int loraRank, double loraAlpha, long seed) {
        this.model = m;
        this.c = m.config;
        this.llama = c.family() == ModelConfig.Family.LLAMA;
        this.lora = loraRank > 0;
        for (Block b : m.blocks) {
            if (b.linears.containsKey("attn_shortcut") || b.linears.containsKey("mlp_shortcut"))
                throw new SquishException("fine-tuning a sliced model (SliceGPT shortcuts) is not supported");
            if (m.width() != c.hidden()) throw new SquishException("fine-tuning a model whose width differs from config.json is not supported");
            Map<String, TrainLinear> ls = new LinkedHashMap<>();
            for (var e : b.linears.entrySet()) {
                String name = m.arch.blockPrefix(b.index) + e.getKey();
                if (loraRank > Math.min(e.getValue().rows(), e.getValue().cols()))
                    throw new SquishException("--lora-rank " + loraRank + " is above the rank of " + name + " (" + e.getValue().rows() + "x" + e.getValue().cols() + ")");
                ls.put(e.getKey(), wrap(name, e.getValue(), loraRank, loraAlpha, seed * 1000003L + name.hashCode()));
            }
            linears.add(ls);
            Map<String, Param> vs = new LinkedHashMap<>();
            for (var e : b.vectors.entrySet()) vs.put(e.getKey(), Param.of(m.arch.blockPrefix(b.index) + e.getKey(), e.getValue(), false));
            vectors.add(vs);
        }
        embed = Param.of("embed", m.embed.toDense(), false);
        positions = m.positions != null ? Param.of("positions", m.positions.toDense(), false) : null;
        finalNorm = Param.of("final_norm", m.finalNorm, false);
        finalNormBias = m.finalNormBias != null ? Param.of("final_norm_bias", m.finalNormBias, false) : null;
        // The head stays out of LoRA (its adapter would be vocab-sized on one side); tied heads share the embedding.
        head = m.tiedHead ? new DenseTrain(embed, m.embed.rows(), m.embed.cols()) : wrap("head", m.head, 0, 0, seed);
    }

    static TrainLinear wrap(String name, Linear l, int loraRank, double alpha, long seed) {
        if (loraRank > 0) return new LoraTrain(name, l, loraRank, alpha, seed);
        if (isDense(l))
            return new DenseTrain(name, l.toDense(), l.rows(), l.cols(), DenseTrain.Kind.DENSE, 0, 0);
        if (l instanceof SparseLinear) return new DenseTrain(name, l.toDense(), l.rows(), l.cols(), DenseTrain.Kind.SPARSE, 0, 0);
        if (l instanceof NMSparseLinear nm) return new DenseTrain(name, l.toDense(), l.rows(), l.cols(), DenseTrain.Kind.NM, nm.n(), nm.m());
        if (l instanceof LowRankLinear lr) return new LowRankTrain(name, lr);
        return new FrozenTrain(l);   // quantized and other formats train only through adapters (--lora-rank)
    }

    /**
     * A plain dense weight of any stored type or layout (what trains as a full matrix). F16 and
     * GPT-2's [in, out] weights are served from the mapped file by their own classes; left out of
     * this test they would silently train as frozen.
     */
    static boolean isDense(Linear l) {
        return l instanceof DenseLinear || l instanceof Bf16DenseLinear || l instanceof dev.squish.weights.F16DenseLinear
                || l instanceof dev.squish.weights.TransposedDenseLinear;
    }

    /** Every parameter whose gradient is computed. */
    public List<Param> allParams() {
        List<Param> ps = new ArrayList<>();
        ps.add(embed);
        if (positions != null) ps.add(positions);
        for (int i = 0; i < linears.size(); i++) {
            for (TrainLinear l : linears.get(i).values()) ps.addAll(l.params());
            ps.addAll(vectors.get(i).values());
        }
        ps.add(finalNorm);
        if (finalNormBias != null) ps.add(finalNormBias);
        if (!model.tiedHead) ps.addAll(head.params());
        return ps;
    }

    /** The parameters the optimizer updates: adapters only under LoRA, else everything. */
    public List<Param> trainable() {
        if (!lora) return allParams();
        List<Param> ps = new ArrayList<>();
        for (var ls : linears) for (TrainLinear l : ls.values()) ps.addAll(l.params());
        return ps;
    }

    /** Writes the trained weights back into the model, each linear in its format. */
    public void writeBack() {
        for (int i = 0; i < linears.size(); i++) {
            Block b = model.blocks.get(i);
            for (var e : linears.get(i).entrySet()) b.linears.put(e.getKey(), e.getValue().toLinear());
            for (var e : vectors.get(i).entrySet()) b.vectors.put(e.getKey(), e.getValue().toFloat());
        }
        model.embed = new DenseLinear(model.embed.rows(), model.embed.cols(), embed.toFloat());
        if (positions != null) model.positions = new DenseLinear(model.positions.rows(), model.positions.cols(), positions.toFloat());
        model.finalNorm = finalNorm.toFloat();
        if (finalNormBias != null) model.finalNormBias = finalNormBias.toFloat();
        model.head = model.tiedHead ? model.embed : head.toLinear();
    }

    // ---------------------------------------------------------------- forward and backward

    /** Per-block intermediates for the backward pass (recomputed block by block). */
    private static final class Cache {
        double[] x, h, n1, q, k, v, probs, att, x1, h2, n2, g, u, a;
    }

    /**
     * Mean next-token cross-entropy of a batch of sequences (each L + 1 tokens: inputs are the first
     * L, targets the last L), and with {@code grad} its gradient accumulated into every parameter.
     */
    public double loss(int[][] batch, boolean grad) { return loss(batch, grad, teacher != null); }

    /** The plain next-token cross-entropy (the validation loss), without distillation. */
    public double lmLoss(int[][] batch) { return loss(batch, false, false); }

    private TrainModel teacher;
    private double kdWeight;

    /**
     * Distils from {@code teacher}: the objective becomes {@code (1 - weight) CE + weight
     * KL(p_teacher || p_student)} over every position (temperature 1). The teacher runs this class's
     * double forward (not the float inference path, whose vector sums may round differently once
     * the JIT compiles them), so its logits, and a resumed run, are bit-reproducible. It must share
     * the vocabulary and the family.
     */
    public void distillFrom(Model teacher, double weight) {
        if (!(weight >= 0 && weight <= 1)) throw new SquishException("--kd-weight must be in [0, 1], got " + weight);
        if (teacher.vocab() != model.vocab())
            throw new SquishException("--teacher has a vocabulary of " + teacher.vocab() + " tokens, the student " + model.vocab());
        if (teacher.config.family() != c.family())
            throw new SquishException("--teacher is a " + teacher.config.family() + " model, the student " + c.family());
        this.teacher = new TrainModel(teacher, 0, 0, 0);
        this.kdWeight = weight;
    }

    /** Logits [n, vocab] of the double forward for inputs {@code in} (bs sequences of seq tokens). */
    private double[] logits(int[] in, int bs, int seq) {
        int n = bs * seq, d = c.hidden();
        if (llama) ropeTables(seq);
        double[] x = embedInputs(in, n, seq);
        for (int b = 0; b < linears.size(); b++) x = forwardBlock(b, x, n, seq, null);
        double[] xf = new double[n * d];
        finalNorm(x, xf, n);
        return head.forward(xf, n);
    }

    private double[] embedInputs(int[] in, int n, int seq) {
        int d = c.hidden(), vocab = model.vocab();
        double[] x = new double[n * d];
        for (int t = 0; t < n; t++) {
            int id = in[t];
            if (id < 0 || id >= vocab) throw new SquishException("token id " + id + " is outside the vocabulary (" + vocab + ")");
            System.arraycopy(embed.w, id * d, x, t * d, d);
            if (positions != null) for (int i = 0; i < d; i++) x[t * d + i] += positions.w[(t % seq) * d + i];
        }
        return x;
    }

    private double loss(int[][] batch, boolean grad, boolean distill) {
        int bs = batch.length, seq = batch[0].length - 1, n = bs * seq, d = c.hidden(), vocab = model.vocab();
        if (seq > model.maxPositions()) throw new SquishException("--seq-len " + seq + " is above the model's context of " + model.maxPositions());
        int[] in = new int[n], tgt = new int[n];
        for (int s = 0; s < bs; s++)
            for (int t = 0; t < seq; t++) { in[s * seq + t] = batch[s][t]; tgt[s * seq + t] = batch[s][t + 1]; }
        if (llama) ropeTables(seq);
        double[] x = embedInputs(in, n, seq);
        double[][] inputs = new double[linears.size()][];
        for (int b = 0; b < linears.size(); b++) {
            inputs[b] = x;
            x = forwardBlock(b, x, n, seq, null);
        }
        double[] xf = new double[n * d], fstats = finalNorm(x, xf, n);
        double[] logits = head.forward(xf, n);
        double[] dlogits = new double[logits.length];
        double[] ce = GradOps.crossEntropy(logits, tgt, n, vocab, dlogits);
        double objective = ce[0] / ce[1];
        if (distill) {
            double kl = GradOps.distill(logits, teacher.logits(in, bs, seq), n, vocab, dlogits, kdWeight) / n;
            objective = (1 - kdWeight) * objective + kdWeight * kl;
        }
        if (!grad) return objective;
        double[] dxf = head.backward(xf, dlogits, n);
        double[] dx = new double[n * d];
        if (llama) GradOps.rmsNormBack(x, fstats, finalNorm.w, dxf, n, d, c.hidden(), dx, finalNorm.g);
        else GradOps.layerNormBack(x, fstats, finalNorm.w, dxf, n, d, dx, finalNorm.g, finalNormBias.g);
        for (int b = linears.size() - 1; b >= 0; b--) {
            Cache cache = new Cache();
            forwardBlock(b, inputs[b], n, seq, cache);
            inputs[b] = null;
            dx = llama ? backwardLlama(b, cache, dx, n, seq) : backwardGpt2(b, cache, dx, n, seq);
        }
        for (int t = 0; t < n; t++) {
            GradOps.axpy(1, dx, t * d, embed.g, in[t] * d, d);
            if (positions != null) GradOps.axpy(1, dx, t * d, positions.g, (t % seq) * d, d);
        }
        return objective;
    }

    private double[] finalNorm(double[] x, double[] y, int n) {
        int d = c.hidden();
        return llama ? GradOps.rmsNorm(x, y, finalNorm.w, n, d, c.hidden(), c.normEps())
                : GradOps.layerNorm(x, y, finalNorm.w, finalNormBias.w, n, d, c.normEps());
    }

    /** cos/sin of the rotary angles for positions 0..seq-1, computed as {@code Llama.rope} does (float angles). */
    private void ropeTables(int seq) {
        if (ropeLen >= seq) return;
        int hd = c.headDim(), half = hd / 2;
        cos = new double[seq * half];
        sin = new double[seq * half];
        for (int i = 0; i < half; i++) {
            float inv = 1f / (float) Math.pow(c.ropeTheta(), (float) (2 * i) / (float) hd);
            for (int p = 0; p < seq; p++) {
                float ang = inv * (float) p;
                cos[p * half + i] = (float) Math.cos(ang);
                sin[p * half + i] = (float) Math.sin(ang);
            }
        }
        ropeLen = seq;
    }

    private double[] vec(int b, String name) {
        Param p = vectors.get(b).get(name);
        return p == null ? null : p.w;
    }

    private double[] vgrad(int b, String name) {
        Param p = vectors.get(b).get(name);
        return p == null ? null : p.g;
    }

    private double[] lin(int b, String name, double[] x, int n) {
        double[] y = linears.get(b).get(name).forward(x, n);
        GradOps.addBias(y, vec(b, name + ".bias"), n);
        return y;
    }

    /** Bias gradient, then the linear's backward; returns dx. */
    private double[] linBack(int b, String name, double[] x, double[] dy, int n) {
        GradOps.biasBack(dy, n, vgrad(b, name + ".bias"));
        return linears.get(b).get(name).backward(x, dy, n);
    }

    private double[] forwardBlock(int b, double[] x, int n, int seq, Cache cc) {
        return llama ? forwardLlama(b, x, n, seq, cc) : forwardGpt2(b, x, n, seq, cc);
    }

    private double[] forwardLlama(int b, double[] x, int n, int seq, Cache cc) {
        int d = c.hidden(), hd = c.headDim();
        double eps = c.normEps();
        double[] h = new double[n * d];
        double[] n1 = GradOps.rmsNorm(x, h, vec(b, "input_layernorm.weight"), n, d, c.hidden(), eps);
        double[] q = lin(b, "self_attn.q_proj", h, n), k = lin(b, "self_attn.k_proj", h, n), v = lin(b, "self_attn.v_proj", h, n);
        int heads = q.length / n / hd, kvHeads = k.length / n / hd;
        GradOps.rope(q, n, heads, hd, seq, cos, sin, 1);
        GradOps.rope(k, n, kvHeads, hd, seq, cos, sin, 1);
        double[] probs = new double[n / seq * heads * seq * seq];
        double[] att = GradOps.attention(q, k, v, n, seq, heads, kvHeads, hd, probs);
        double[] o = lin(b, "self_attn.o_proj", att, n);
        double[] x1 = new double[n * d];
        for (int i = 0; i < x1.length; i++) x1[i] = x[i] + o[i];
        double[] h2 = new double[n * d];
        double[] n2 = GradOps.rmsNorm(x1, h2, vec(b, "post_attention_layernorm.weight"), n, d, c.hidden(), eps);
        double[] g = lin(b, "mlp.gate_proj", h2, n), u = lin(b, "mlp.up_proj", h2, n);
        double[] a = GradOps.swiglu(g, u);
        double[] dn = lin(b, "mlp.down_proj", a, n);
        double[] out = new double[n * d];
        for (int i = 0; i < out.length; i++) out[i] = x1[i] + dn[i];
        if (cc != null) {
            cc.x = x; cc.h = h; cc.n1 = n1; cc.q = q; cc.k = k; cc.v = v; cc.probs = probs; cc.att = att;
            cc.x1 = x1; cc.h2 = h2; cc.n2 = n2; cc.g = g; cc.u = u; cc.a = a;
        }
        return out;
    }

    private double[] backwardLlama(int b, Cache cc, double[] dout, int n, int seq) {
        int d = c.hidden(), hd = c.headDim();
        double[] da = linBack(b, "mlp.down_proj", cc.a, dout.clone(), n);
        double[] dg = new double[da.length], du = new double[da.length];
        GradOps.swigluBack(cc.g, cc.u, da, dg, du);
        double[] dh2 = linBack(b, "mlp.gate_proj", cc.h2, dg, n);
        double[] dh2u = linBack(b, "mlp.up_proj", cc.h2, du, n);
        for (int i = 0; i < dh2.length; i++) dh2[i] += dh2u[i];
        double[] dx1 = dout.clone();
        GradOps.rmsNormBack(cc.x1, cc.n2, vec(b, "post_attention_layernorm.weight"), dh2, n, d, c.hidden(), dx1, vgrad(b, "post_attention_layernorm.weight"));
        double[] datt = linBack(b, "self_attn.o_proj", cc.att, dx1.clone(), n);
        int heads = cc.q.length / n / hd, kvHeads = cc.k.length / n / hd;
        double[] dq = new double[cc.q.length], dk = new double[cc.k.length], dv = new double[cc.v.length];
        GradOps.attentionBack(cc.q, cc.k, cc.v, cc.probs, datt, n, seq, heads, kvHeads, hd, dq, dk, dv);
        GradOps.rope(dq, n, heads, hd, seq, cos, sin, -1);
        GradOps.rope(dk, n, kvHeads, hd, seq, cos, sin, -1);
        double[] dh = linBack(b, "self_attn.q_proj", cc.h, dq, n);
        double[] t = linBack(b, "self_attn.k_proj", cc.h, dk, n);
        for (int i = 0; i < dh.length; i++) dh[i] += t[i];
        t = linBack(b, "self_attn.v_proj", cc.h, dv, n);
        for (int i = 0; i < dh.length; i++) dh[i] += t[i];
        double[] dx = dx1.clone();
        GradOps.rmsNormBack(cc.x, cc.n1, vec(b, "input_layernorm.weight"), dh, n, d, c.hidden(), dx, vgrad(b, "input_layernorm.weight"));
        return dx;
    }

    private boolean tanhGelu() { return !c.activation().equals("gelu"); }

    private double[] forwardGpt2(int b, double[] x, int n, int seq, Cache cc) {
        int d = c.hidden(), heads = c.heads();
        double eps = c.normEps();
        double[] h = new double[n * d];
        double[] n1 = GradOps.layerNorm(x, h, vec(b, "ln_1.weight"), vec(b, "ln_1.bias"), n, d, eps);
        double[] qkv = lin(b, "attn.c_attn", h, n);
        int ad = qkv.length / n / 3, hd = ad / heads;
        double[] q = new double[n * ad], k = new double[n * ad], v = new double[n * ad];
        for (int t = 0; t < n; t++) {
            System.arraycopy(qkv, t * 3 * ad, q, t * ad, ad);
            System.arraycopy(qkv, t * 3 * ad + ad, k, t * ad, ad);
            System.arraycopy(qkv, t * 3 * ad + 2 * ad, v, t * ad, ad);
        }
        double[] probs = new double[n / seq * heads * seq * seq];
        double[] att = GradOps.attention(q, k, v, n, seq, heads, heads, hd, probs);
        double[] o = lin(b, "attn.c_proj", att, n);
        double[] x1 = new double[n * d];
        for (int i = 0; i < x1.length; i++) x1[i] = x[i] + o[i];
        double[] h2 = new double[n * d];
        double[] n2 = GradOps.layerNorm(x1, h2, vec(b, "ln_2.weight"), vec(b, "ln_2.bias"), n, d, eps);
        double[] f = lin(b, "mlp.c_fc", h2, n);
        double[] a = new double[f.length];
        boolean tanh = tanhGelu();
        for (int i = 0; i < a.length; i++) a[i] = GradOps.gelu(f[i], tanh);
        double[] m = lin(b, "mlp.c_proj", a, n);
        double[] out = new double[n * d];
        for (int i = 0; i < out.length; i++) out[i] = x1[i] + m[i];
        if (cc != null) {
            cc.x = x; cc.h = h; cc.n1 = n1; cc.q = q; cc.k = k; cc.v = v; cc.probs = probs; cc.att = att;
            cc.x1 = x1; cc.h2 = h2; cc.n2 = n2; cc.g = f; cc.a = a;
        }
        return out;
    }

    private double[] backwardGpt2(int b, Cache cc, double[] dout, int n, int seq) {
        int d = c.hidden(), heads = c.heads(), ad = cc.q.length / n, hd = ad / heads;
        double[] da = linBack(b, "mlp.c_proj", cc.a, dout.clone(), n);
        boolean tanh = tanhGelu();
        for (int i = 0; i < da.length; i++) da[i] *= GradOps.geluGrad(cc.g[i], tanh);
        double[] dh2 = linBack(b, "mlp.c_fc", cc.h2, da, n);
        double[] dx1 = dout.clone();
        GradOps.layerNormBack(cc.x1, cc.n2, vec(b, "ln_2.weight"), dh2, n, d, dx1, vgrad(b, "ln_2.weight"), vgrad(b, "ln_2.bias"));
        double[] datt = linBack(b, "attn.c_proj", cc.att, dx1.clone(), n);
        double[] dq = new double[cc.q.length], dk = new double[cc.k.length], dv = new double[cc.v.length];
        GradOps.attentionBack(cc.q, cc.k, cc.v, cc.probs, datt, n, seq, heads, heads, hd, dq, dk, dv);
        double[] dqkv = new double[n * 3 * ad];
        for (int t = 0; t < n; t++) {
            System.arraycopy(dq, t * ad, dqkv, t * 3 * ad, ad);
            System.arraycopy(dk, t * ad, dqkv, t * 3 * ad + ad, ad);
            System.arraycopy(dv, t * ad, dqkv, t * 3 * ad + 2 * ad, ad);
        }
        double[] dh = linBack(b, "attn.c_attn", cc.h, dqkv, n);
        double[] dx = dx1.clone();
        GradOps.layerNormBack(cc.x, cc.n1, vec(b, "ln_1.weight"), dh, n, d, dx, vgrad(b, "ln_1.weight"), vgrad(b, "ln_1.bias"));
        return dx;
    }
}
