"""TF-IDF + logistic regression baseline for bench/quality.bench.cjs (scikit-learn; a development
tool, never a dependency of the library). argv: train.csv test.csv [--tokenizer tokenizer.json
--max-tokens N] -> JSON metrics on stdout. With --max-tokens, each text is cut after its first N
tokens (the model's tokenizer, no special tokens): the text an ELECTRA model reads with N tokens."""
import csv, json, sys
csv.field_size_limit(1 << 30)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

def read(f):
    with open(f, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]

xtr, ytr = read(sys.argv[1])
xte, yte = read(sys.argv[2])
if "--max-tokens" in sys.argv:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[sys.argv.index("--tokenizer") + 1])
    n = int(sys.argv[sys.argv.index("--max-tokens") + 1])
    def cut(texts):
        out = []
        for t, e in zip(texts, tok.encode_batch(texts, add_special_tokens=False)):
            out.append(t[: e.offsets[min(n, len(e.offsets)) - 1][1]] if e.offsets else "")
        return out
    xtr, xte = cut(xtr), cut(xte)
vec = TfidfVectorizer(sublinear_tf=True, min_df=2 if len(xtr) > 1000 else 1, ngram_range=(1, 2), max_features=200000)
clf = LogisticRegression(C=10.0, max_iter=2000)
clf.fit(vec.fit_transform(xtr), ytr)
p = clf.predict(vec.transform(xte))
print(json.dumps({"accuracy": accuracy_score(yte, p), "f1": f1_score(yte, p, pos_label="spam"), "mcc": matthews_corrcoef(yte, p)}))
