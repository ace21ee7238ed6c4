"""Adds up JUnit XML files (ctest, pytest) into one closing summary line."""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for s in suites:
        total = int(s.get("tests", 0))
        f = int(s.get("failures", 0)) + int(s.get("errors", 0))
        sk = int(s.get("skipped", 0)) + int(s.get("disabled", 0))
        print(f"  {path}: {total - f - sk} passed, {f} failed, {sk} skipped")
        passed += total - f - sk
        failed += f
        skipped += sk
print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
