// Deletion vectors as merutable writes them, made with Java's RoaringBitmap (the Roaring
// format's reference implementation) and java.util.zip.CRC32, for the rows tests:
// a Puffin file per line of standard input, "PATH<TAB>POS,POS,...", under the directory
// given as the argument; prints "PATH<TAB>BLOB_OFFSET<TAB>BLOB_LENGTH" per file.
//
// Blob (merutable's iceberg/deletion_vector.rs, Iceberg v3 deletion-vector-v1): u32 BE length
// of what follows, magic D1 D3 39 64, u64 LE bitmap count (1), u32 LE key (0), the 32-bit
// portable Roaring bitmap, u32 BE CRC-32 of magic + bitmap data. Puffin: "PFA1", the blob,
// a JSON footer, its i32 LE length, "PFA1".
//
// Run: java -cp RoaringBitmap-1.3.0.jar DeletionVectors.java DIR < lines
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import org.roaringbitmap.RoaringBitmap;

public class DeletionVectors {
  public static void main(String[] args) throws Exception {
    Path root = Path.of(args[0]);
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isEmpty()) continue;
      String[] parts = line.split("\t", -1);
      RoaringBitmap bitmap = new RoaringBitmap();
      if (!parts[1].isEmpty()) for (String p : parts[1].split(",")) bitmap.add(Integer.parseUnsignedInt(p));
      // Run containers where they are smaller, as the roaring crate's writer may choose.
      bitmap.runOptimize();
      ByteBuffer roaring = ByteBuffer.allocate(bitmap.serializedSizeInBytes()).order(ByteOrder.LITTLE_ENDIAN);
      bitmap.serialize(roaring);
      ByteArrayOutputStream data = new ByteArrayOutputStream();
      data.write(new byte[] {(byte) 0xD1, (byte) 0xD3, 0x39, 0x64});
      data.write(ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(1).putInt(0).array());
      data.write(roaring.array());
      byte[] body = data.toByteArray();
      CRC32 crc = new CRC32();
      crc.update(body);
      ByteBuffer blob = ByteBuffer.allocate(4 + body.length + 4).order(ByteOrder.BIG_ENDIAN);
      blob.putInt(body.length + 4).put(body).putInt((int) crc.getValue());
      byte[] footer = ("{\"blobs\":[{\"type\":\"deletion-vector-v1\",\"offset\":4,\"length\":" + blob.capacity() + "}]}")
          .getBytes(StandardCharsets.UTF_8);
      ByteArrayOutputStream puffin = new ByteArrayOutputStream();
      puffin.write("PFA1".getBytes(StandardCharsets.US_ASCII));
      puffin.write(blob.array());
      puffin.write(footer);
      puffin.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(footer.length).array());
      puffin.write("PFA1".getBytes(StandardCharsets.US_ASCII));
      Path out = root.resolve(parts[0]);
      Files.createDirectories(out.getParent());
      Files.write(out, puffin.toByteArray());
      System.out.println(parts[0] + "\t4\t" + blob.capacity());
    }
  }
}
