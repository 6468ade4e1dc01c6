# Sourced by bin/squish and .ci/run: choose a Java 25 JDK without any set-up by hand.
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" || "$("${JAVA_HOME}/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')" -lt 25 ]]; then
  for c in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25* /usr/lib/jvm/java-25* /usr/lib/jvm/jdk-25*; do
    if [[ -x "$c/bin/java" ]]; then export JAVA_HOME="$c"; break; fi
  done
fi
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]]; then
  echo "error: Java 25 not found; install a JDK 25 (e.g. Temurin) or set JAVA_HOME" >&2; exit 2
fi
export PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
# Weights repacked at load live off the heap (weights/OffHeap); the JVM caps that memory at the heap
# limit unless told otherwise, which would make -Xmx512m fail on a quantized 1B model.
SQUISH_JVM_FLAGS="--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:MaxDirectMemorySize=1t"
# What Spark's own launcher (JavaModuleOptions) passes; bin/squish adds them with --spark. Keep in step with pom.xml's spark.jvm.flags.
SQUISH_SPARK_FLAGS="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.util.calendar=ALL-UNNAMED -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true"
