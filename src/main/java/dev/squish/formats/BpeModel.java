package dev.squish.formats;

import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of a Hugging Face {@code tokenizer.json}: a vocabulary and ranked merges. A word
 * (one pre-tokenized piece, already in byte characters) starts as one symbol per character; the
 * adjacent pair with the lowest merge rank (leftmost on ties) is merged until no pair can be.
 * This follows {@code tokenizers/src/models/bpe/word.rs} exactly, including how a queued merge
 * is re-checked against the current pair (by the id it would produce), so results match
 * Hugging Face token for token. Hand-written rather than a library: no Maven Central library
 * reads {@code tokenizer.json} without native code.
 *
 * <p>Thread-safe: immutable apart from a concurrent word cache that is cleared when it grows large.
 */
final class BpeModel {
    private static final int CACHE_MAX_ENTRIES = 100_000;
    private static final int CACHE_MAX_WORD = 256;

    private final Map<String, Integer> vocab;
    /** (left id, right id) packed in a long -> merge rank. */
    private final Map<Long, Integer> ranks;
    /** Merge rank -> id of the merged token. */
    private final int[] mergedId;
    private final Integer unkId;
    private final boolean fuseUnk, byteFallback, ignoreMerges;
    /** Id of each single byte character (index = char), -1 if not in the vocabulary. */
    private final int[] charIds = new int[512];
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges pairs of token strings in rank order; every left, right and left+right must be
     *               in the vocabulary (checked by the caller)
     */
    BpeModel(Map<String, Integer> vocab, int[][] merges, Integer unkId, boolean fuseUnk, boolean byteFallback,
             boolean ignoreMerges) {
        this.vocab = vocab;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.ranks = new HashMap<>(merges.length * 2);
        this.mergedId = new int[merges.length];
        for (int r = 0; r < merges.length; r++) {
            ranks.put(pair(merges[r][0], merges[r][1]), r); // a repeated pair keeps its last rank, as in HF
            mergedId[r] = merges[r][2];
        }
        for (int c = 0; c < charIds.length; c++) charIds[c] = vocab.getOrDefault(String.valueOf((char) c), -1);
    }

    private static long pair(int a, int b) { return (long) a << 32 | (b & 0xFFFFFFFFL); }

    /** Appends the ids of one pre-tokenized word. */
    void encodeWord(String word, IntList out) {
        if (word.isEmpty()) return;
        if (ignoreMerges) {
            Integer id = vocab.get(word);
            if (id != null) { out.add(id); return; }
        }
        boolean cacheable = word.length() <= CACHE_MAX_WORD;
        if (cacheable) {
            int[] hit = cache.get(word);
            if (hit != null) { out.addAll(hit); return; }
        }
        int[] ids = merge(word);
        if (cacheable) {
            if (cache.size() >= CACHE_MAX_ENTRIES) cache.clear();
            cache.put(word, ids);
        }
        out.addAll(ids);
    }

    private int[] merge(String word) {
        // Symbols as a doubly linked list over arrays; a symbol merged into its left neighbour is dead.
        int n = 0;
        int[] id = new int[word.length() * 4];
        boolean lastUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int w = Character.charCount(cp);
            int tok = cp < charIds.length ? charIds[cp] : vocab.getOrDefault(word.substring(i, i + w), -1);
            String ch = tok >= 0 ? null : word.substring(i, i + w);
            i += w;
            if (tok >= 0) {
                id[n++] = tok;
                lastUnk = false;
            } else if (byteFallback && byteFallback(ch, id, n) > 0) {
                n += byteFallback(ch, id, n);
                lastUnk = false;
            } else if (unkId != null && !(fuseUnk && lastUnk)) {
                id[n++] = unkId;
                lastUnk = true;
            } // else: fused into the previous unk, or dropped when there is no unk token (as in HF)
        }
        boolean[] dead = new boolean[n];
        int[] prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }

        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) enqueue(queue, id[i], id[i + 1], i);
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int rank = (int) (top >>> 32), pos = (int) top;
            if (dead[pos] || next[pos] < 0) continue;
            int right = next[pos];
            Integer current = ranks.get(pair(id[pos], id[right]));
            if (current == null || mergedId[current] != mergedId[rank]) continue; // stale entry
            id[pos] = mergedId[rank];
            dead[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) enqueue(queue, id[prev[pos]], id[pos], prev[pos]);
            if (next[pos] >= 0) enqueue(queue, id[pos], id[next[pos]], pos);
        }
        IntList result = new IntList(n);
        for (int i = 0; i >= 0 && n > 0; i = next[i]) result.add(id[i]);
        return result.toArray();
    }

    private void enqueue(PriorityQueue<Long> queue, int left, int right, int pos) {
        Integer rank = ranks.get(pair(left, right));
        if (rank != null) queue.add((long) rank << 32 | pos);
    }

    /** Writes the {@code <0xXX>} tokens of a character's UTF-8 bytes at {@code at}; 0 if one is missing. */
    private int byteFallback(String ch, int[] id, int at) {
        byte[] bytes = ch.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int k = 0; k < bytes.length; k++) {
            Integer t = vocab.get(String.format("<0x%02X>", bytes[k] & 0xFF));
            if (t == null) return 0;
            id[at + k] = t;
        }
        return bytes.length;
    }
}
