// Generated inputs that stress normalization, pre-tokenization and added-token matching.
export function hardCases(): string[] {
  const long = 'pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(5);
  const cases = [
    '',
    ' ',
    'Hello, world!',
    'Héllo wörld — naïve café, résumé, Ångström, São Paulo, Øresund, Łódź',
    'e\u0301 a\u0308 n\u0303 o\u0302\u0323 combining marks',
    'İstanbul ǅ ß ẞ Σίσυφος ΣΑΣ ﬁ ﬀ ① ㎏ ｆｕｌｌｗｉｄｔｈ',
    '東京は日本の首都です。北京欢迎你！ 한국어 텍스트 ひらがな カタカナ',
    'emoji 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✈︎ 🤖',
    'control\u0000chars\u0007and\u001bescape\u200bzero\u200dwidth\ufeffbom\ufffdrepl',
    'tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em\u3000ideo',
    '     leading and trailing spaces     ',
    'runs    of     spaces      between',
    long,
    long + ' ' + long.toUpperCase(),
    'x'.repeat(101) + ' ' + 'y'.repeat(99),
    '[CLS] [SEP] [MASK] [PAD] [UNK] inside text [SEP]',
    '<s>roberta</s> <mask> <pad> <unk> tokens',
    '</s> <extra_id_0> <extra_id_99> t5 <unk> <pad>',
    '<|endoftext|> phi <|endoftext|><|endoftext|>',
    'a' + ' '.repeat(31) + 'b' + ' '.repeat(7) + 'c' + '\t'.repeat(9) + 'd',
    "don't can't I'm you're we've they'll she'd it's",
    'numbers 1234567890 3.14159 1,000,000 ٣٤٥ ¾ ²',
    'punct !!! ??? ... --- ((( ))) [[[ ]]] {{{ }}} @#$%^&*_+=~`|\\/<>',
    'URL https://example.com/path?q=1&x=y#frag email a.b@c.de',
    'mixed عربي עברית हिन्दी ไทย русский ελληνικά',
    'lone surrogate \ud800 and \udfff here',
    '\u0085next line\u2028line sep\u2029para sep',
    'ＡＢＣ１２３ Ⅻ ℌ ℍ ℕ ™ ℠ ㈱',
    'café'.normalize('NFD') + ' vs ' + 'café'.normalize('NFC'),
    '▁metaspace▁chars ▁ already',
    'Ġbyte Ċlevel ĉchars',
  ];
  return cases;
}

/**
 * Texts whose cut at 16 or 128 tokens falls inside a word of several tokens, at every offset:
 * runs of short words of growing length, then long rare words (and CJK and digit runs, which
 * byte-level and Unigram models split into many tokens).
 */
export function cutCases(): string[] {
  const long = [
    'pneumonoultramicroscopicsilicovolcanoconiosis', 'antidisestablishmentarianism', 'floccinaucinihilipilification',
    'Donaudampfschifffahrtsgesellschaftskapitän', 'electroencephalographically', 'Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch',
    '東京都千代田区霞が関', '12345678901234567890', 'hippopotomonstrosesquippedaliophobia',
  ].join(' ');
  const out: string[] = [];
  for (const base of [0, 108, 118]) {
    for (let k = 0; k < 12; k++) out.push(`${'to '.repeat(base + k)}${long} ${long}`);
  }
  return out;
}
