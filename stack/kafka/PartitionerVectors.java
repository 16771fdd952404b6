// Writes test vectors for the key partitioner, computed by Kafka's own Java producer code
// (BuiltInPartitioner.partitionForKey, what KafkaProducer uses for keyed records).
// Run by harness/tests/partitioner_vectors.rs, which checks our partitioner against every line it prints.
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class PartitionerVectors {
    // UTF-8 whatever the locale, so the file is the same on every machine.
    private static final PrintStream OUT =
        new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);

    public static void main(String[] args) {
        int[] partitionCounts = {1, 2, 3, 5, 6, 8, 12};
        OUT.println("key,murmur2,partitions,partition");
        for (int n = 1; n <= 1000; n++) {
            String key = String.format("CUST-%05d", n);
            emit(key, partitionCounts);
        }
        for (String key : new String[] {"a", "ab", "abc", "abcd", "abcde", "order-producer", "\u00e9t\u00e9"}) {
            emit(key, partitionCounts);
        }
        OUT.flush();
    }

    private static void emit(String key, int[] partitionCounts) {
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        for (int partitions : partitionCounts) {
            OUT.println(key + "," + Utils.murmur2(bytes) + "," + partitions + ","
                + BuiltInPartitioner.partitionForKey(bytes, partitions));
        }
    }
}
