import logging, sys, time
from confluent_kafka import Producer
logging.basicConfig(format="%(relativeCreated)8.1f ms %(message)s", level=logging.DEBUG, stream=sys.stdout)
for trial in range(8):
    log = logging.getLogger(f"t{trial}")
    start = time.monotonic()
    p = Producer({"bootstrap.servers": "127.0.0.1:9092", "enable.idempotence": True, "linger.ms": 5,
                  "debug": "eos", "client.id": f"pid-probe-{trial}"}, logger=log)
    p.list_topics("pid-probe", timeout=10)  # what order-producer's check_topic does
    sent = time.monotonic()
    acked = []
    p.produce("pid-probe", b"x", key=b"k", on_delivery=lambda e, m: acked.append(time.monotonic()))
    while not acked and time.monotonic() - sent < 5:
        p.poll(0.001)
    print(f"trial {trial}: metadata {1000*(sent-start):.0f} ms, first record acked {1000*(acked[0]-sent):.0f} ms after it was produced", flush=True)
    p.flush(5)
