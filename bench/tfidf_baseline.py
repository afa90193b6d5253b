"""TF-IDF + logistic regression baseline for bench/quality.bench.cjs (scikit-learn; a development
tool, never a dependency of the library). argv: train.csv test.csv -> JSON metrics on stdout."""
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
vec = TfidfVectorizer(sublinear_tf=True, min_df=2 if len(xtr) > 1000 else 1, ngram_range=(1, 2), max_features=200000)
clf = LogisticRegression(C=10.0, max_iter=2000)
clf.fit(vec.fit_transform(xtr), ytr)
p = clf.predict(vec.transform(xte))
print(json.dumps({"accuracy": accuracy_score(yte, p), "f1": f1_score(yte, p, pos_label="spam"), "mcc": matthews_corrcoef(yte, p)}))
