# An Orthanc Python plugin used by the tests: counts every incoming C-STORE per SOP Instance UID
# (duplicates included, which Orthanc itself would silently ignore) and serves the counts at /counts.
import json
import threading

import orthanc

COUNTS = {}
LOCK = threading.Lock()


def on_incoming(received):
    uid = json.loads(received.GetInstanceSimplifiedJson()).get("SOPInstanceUID", "?")
    with LOCK:
        COUNTS[uid] = COUNTS.get(uid, 0) + 1
    return 0


def counts(output, uri, **request):
    with LOCK:
        body = json.dumps(COUNTS)
    output.AnswerBuffer(body, "application/json")


orthanc.RegisterIncomingCStoreInstanceFilter(on_incoming)
orthanc.RegisterRestCallback("/counts", counts)
