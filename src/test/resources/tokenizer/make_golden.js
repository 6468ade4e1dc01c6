// Generates golden.json: reference ids from Hugging Face `tokenizers` (npm package "tokenizers",
// the official Node binding of the Rust library) for TokenizerTest. Run from the repository root:
//   npm install tokenizers@0.23.2 && node src/test/resources/tokenizer/make_golden.js
// The tokenizer variants are derived from the fixture tokenizer.json exactly as TokenizerTest derives them.
const {Tokenizer} = require('tokenizers');
const fs = require('fs');

const base = JSON.parse(fs.readFileSync('fixtures/models/kjv-gpt2-tiny/tokenizer.json', 'utf8'));
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
function seq(pattern, behavior, invert, useRegex) {
  return {type: 'Sequence', pretokenizers: [
    {type: 'Split', pattern, behavior, invert},
    {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex}]};
}
function variant(name) {
  const j = JSON.parse(JSON.stringify(base));
  if (name === 'prefix_space') j.pre_tokenizer.add_prefix_space = true;
  if (name === 'llama3') {
    j.pre_tokenizer = {type: 'Sequence', pretokenizers: [
      {type: 'Split', pattern: {Regex: LLAMA3_REGEX}, behavior: 'Isolated', invert: false},
      {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false}]};
    j.model.ignore_merges = true;
  }
  if (name === 'nfkc') j.normalizer = {type: 'NFKC'};
  if (name === 'strip') { j.added_tokens[0].lstrip = true; j.added_tokens[0].rstrip = true; }
  if (name === 'removed') j.pre_tokenizer = seq({Regex: '\\s+'}, 'Removed', false, true);
  if (name === 'merged_previous') j.pre_tokenizer = seq({Regex: '\\p{P}'}, 'MergedWithPrevious', false, false);
  if (name === 'merged_next') j.pre_tokenizer = seq({String: ' '}, 'MergedWithNext', false, false);
  if (name === 'contiguous_invert') j.pre_tokenizer = seq({Regex: '\\p{L}+'}, 'Contiguous', true, false);
  if (name === 'plain') j.added_tokens = []; // "<|endoftext|>" in the text is then plain text
  return Tokenizer.fromString(JSON.stringify(j));
}

// Deterministic pseudo-random strings mixing the character classes the split regex cares about.
let seed = 12345; // mulberry32
function rnd(n) {
  seed = (seed + 0x6D2B79F5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (((t ^ (t >>> 14)) >>> 0) % n);
}
const pools = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', ' ', '  ', '\n', '\n\n', '\t', ' \n ',
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", '.,;:!?()[]{}"-_/\\*&^%$#@~`<>|+=',
  'éàüßçñøåÆŒ', '中文字符日本語한국어', '😀🎉👍🏽🇫🇷👨‍👩‍👧', 'e\u0301a\u0308n\u0303', '\u00a0\u3000\u2009\u200b',
  'ΑβγΔЖжщ', 'عربي', '½²³٣೯', '\r\n', 'ﬁ①Ａ', '<|endoftext|>', 'the ', ' and ', 'LORD',
];
function randomString() {
  let s = '', parts = 1 + rnd(12);
  for (let i = 0; i < parts; i++) {
    const pool = Array.from(pools[rnd(pools.length)]);
    if (rnd(3) === 0) s += pool.join(''); else for (let k = 1 + rnd(4); k > 0; k--) s += pool[rnd(pool.length)];
  }
  return s;
}
const texts = ['', ' ', 'Hello world', "I'll say it's done, they've we're I'm he'd", 'a   b', 'x \n\n  y  ', '   ',
  'In the beginning God created the heaven and the earth.', '12345 678', '<|endoftext|>', 'a<|endoftext|>b',
  'hi <|endoftext|> there', '😀', 'e\u0301', '\u00a0 x'];
for (let i = 0; i < 300; i++) texts.push(randomString());

(async () => {
  const out = {texts, variants: {}, decode: []};
  // HF encode(add_special_tokens=False) matches added tokens in the text: Tokenizer.encode(text, true).
  for (const name of ['base', 'prefix_space', 'llama3', 'nfkc', 'strip', 'removed', 'merged_previous', 'merged_next', 'contiguous_invert', 'plain']) {
    const t = variant(name);
    const ids = [];
    for (const s of texts) {
      ids.push(Array.from((await t.encode(s, null, {addSpecialTokens: false})).getIds()));
    }
    out.variants[name] = ids;
  }
  const t = variant('base');
  // Arbitrary id sequences (often invalid UTF-8) and HF's lossy decode of them.
  for (let i = 0; i < 200; i++) {
    const ids = []; for (let k = 1 + rnd(8); k > 0; k--) ids.push(rnd(400));
    out.decode.push({ids, text: await t.decode(ids, false)});
  }
  fs.writeFileSync('src/test/resources/tokenizer/golden.json', JSON.stringify(out));
})();
