// Runs the jdbc and spring-boot snippets in one JVM, with Debian's pgjdbc on the class path.
// Usage: java -cp CLASSES:/usr/share/java/postgresql.jar RunSnippets JOBS.tsv
//   JOBS.tsv: one "key<TAB>kind<TAB>file" per line; prints {"<key>": {"ok", "result"|"error"}}.
// jdbc: javac compiles the snippet's Db.java as it is (US-ASCII source: the snippet must not
//   depend on the platform encoding), a class loader of its own loads it, and its main() runs.
// spring: application.properties is read with java.util.Properties, as Spring Boot does; then
//   the connection is opened the way HikariCP's DriverDataSource does it (user, password and
//   data-source-properties.* as driver Properties), and the session is probed.
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

public class RunSnippets {
    static final String PG_PROBE = "SELECT current_user, ssl, current_setting('statement_timeout') "
            + "FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    static final String HIKARI_PROPS = "spring.datasource.hikari.data-source-properties.";

    public static void main(String[] args) throws Exception {
        PrintStream stdout = new PrintStream(System.out, true, "UTF-8");
        StringBuilder out = new StringBuilder("{");
        for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
            String[] job = line.split("\t");
            String outcome;
            try {
                String result = job[1].equals("jdbc") ? runJdbc(Path.of(job[2])) : runSpring(Path.of(job[2]));
                outcome = "{\"ok\": true, \"result\": " + result + "}";
            } catch (Throwable e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                outcome = "{\"ok\": false, \"error\": " + json(cause.toString()) + "}";
            }
            out.append(out.length() > 1 ? ", " : "").append(json(job[0])).append(": ").append(outcome);
        }
        stdout.print(out.append("}"));
    }

    static String runJdbc(Path source) throws Exception {
        Path classes = Files.createDirectories(source.resolveSibling("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int status = javac.run(null, null, errors, "-encoding", "US-ASCII", "-d", classes.toString(), source.toString());
        if (status != 0) throw new IllegalStateException("javac: " + errors.toString(StandardCharsets.UTF_8));
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, RunSnippets.class.getClassLoader())) {
            ByteArrayOutputStream printed = new ByteArrayOutputStream();
            PrintStream saved = System.out;
            System.setOut(new PrintStream(printed, true, "UTF-8"));
            try {
                loader.loadClass("Db").getMethod("main", String[].class).invoke(null, (Object) new String[0]);
            } finally {
                System.setOut(saved);
            }
            return json(printed.toString(StandardCharsets.UTF_8).trim());
        }
    }

    static String runSpring(Path file) throws Exception {
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(file.toFile())) {
            props.load(in); // ISO-8859-1, as Spring Boot reads application.properties
        }
        Properties driver = new Properties();
        for (String name : props.stringPropertyNames()) {
            if (name.startsWith(HIKARI_PROPS)) driver.setProperty(name.substring(HIKARI_PROPS.length()), spring(props, name));
        }
        driver.setProperty("user", spring(props, "spring.datasource.username"));
        driver.setProperty("password", spring(props, "spring.datasource.password"));
        Map<String, String> result = new LinkedHashMap<>();
        try (Connection conn = DriverManager.getConnection(spring(props, "spring.datasource.url"), driver);
                ResultSet rs = conn.createStatement().executeQuery(PG_PROBE)) {
            rs.next();
            result.put("user", rs.getString(1));
            result.put("ssl", String.valueOf(rs.getBoolean(2)));
            result.put("statement_timeout", rs.getString(3));
        }
        result.put("pool", props.getProperty("spring.datasource.hikari.maximum-pool-size"));
        StringBuilder out = new StringBuilder("{");
        result.forEach((key, value) -> out.append(out.length() > 1 ? ", " : "").append(json(key)).append(": ").append(json(value)));
        return out.append("}").toString();
    }

    // What Spring (Framework 6.2, Boot 3.4) makes of a value: \${ is a literal ${; any other
    // ${ would be resolved as a placeholder, which no value here may need.
    static String spring(Properties props, String name) {
        String value = props.getProperty(name);
        if (value == null) throw new IllegalArgumentException("missing " + name);
        if (value.replace("\\${", "").contains("${")) throw new IllegalArgumentException(name + " holds a placeholder");
        return value.replace("\\${", "${");
    }

    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
