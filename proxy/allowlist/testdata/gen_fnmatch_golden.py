# Regenerates fnmatch_golden.json from CPython's fnmatch.fnmatchcase.
# Run: python3 gen_fnmatch_golden.py > fnmatch_golden.json
import fnmatch, json, random

random.seed(20261122)
PAT = "ab-!]*?[\\/c.Z"
STR = "ab-!]c/\\.[zZ\n"
cases = []
for _ in range(6000):
    p = "".join(random.choice(PAT) for _ in range(random.randint(0, 8)))
    if random.random() < 0.5:
        s = "".join(random.choice(STR) for _ in range(random.randint(0, 8)))
    else:
        # derive a likely match from the pattern
        s = ""
        for ch in p:
            if ch == "*":
                s += "".join(random.choice(STR) for _ in range(random.randint(0, 3)))
            elif ch in "?[]!":
                s += random.choice(STR) if random.random() < 0.5 else ("" if ch == "[" else ch)
            else:
                s += ch
    cases.append([p, s, fnmatch.fnmatchcase(s, p)])
for p, s in [("*.github.com", "github.com"), ("*.github.com", "api.github.com"),
             ("/repos/*", "/repos/a/b?x=1"), ("[!a-c]x", "dx"), ("é?", "éé"),
             ("[z-a]", "z"), ("[a--]", "-"), ("[a-c-b]", "-")]:
    cases.append([p, s, fnmatch.fnmatchcase(s, p)])
print(json.dumps({"python": __import__("sys").version.split()[0], "cases": cases}))
