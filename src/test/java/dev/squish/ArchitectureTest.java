package dev.squish;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The package flow of docs/architecture.md, checked on the compiled product classes (not the tests):
 * util, formats -> weights -> model -> calibration -> methods -> train -> recipe, eval / export -> spark -> bench -> cli.
 * Each rule fails with the offending class and dependency if someone adds an import against the flow.
 */
class ArchitectureTest {
    private static JavaClasses product;

    @BeforeAll static void load() {
        product = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("dev.squish");
        if (product.size() < 100) throw new AssertionError("expected the product's classes, found " + product.size());
    }

    @Test void noPackageCycles() {
        slices().matching("dev.squish.(*)..").should().beFreeOfCycles().check(product);
    }

    @Test void formatsAndUtilDependOnNothingElse() {
        noClasses().that().resideInAnyPackage("dev.squish.formats..", "dev.squish.util..")
                .should().dependOnClassesThat().resideInAnyPackage(upstreamOf("formats", "util")).check(product);
    }

    @Test void weightsKnowNoModelOrMethod() {
        noClasses().that().resideInAPackage("dev.squish.weights..")
                .should().dependOnClassesThat().resideInAnyPackage(upstreamOf("formats", "util", "weights")).check(product);
    }

    @Test void modelKnowsNoCalibrationOrMethod() {
        noClasses().that().resideInAPackage("dev.squish.model..")
                .should().dependOnClassesThat().resideInAnyPackage(upstreamOf("formats", "util", "weights", "model")).check(product);
    }

    @Test void methodsDoNotReachIntoEvaluationExportBenchOrCli() {
        noClasses().that().resideInAnyPackage("dev.squish.calibration..", "dev.squish.methods..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.squish.eval..", "dev.squish.export..", "dev.squish.bench..",
                        "dev.squish.cli..", "dev.squish.report..").check(product);
    }

    /** Recipes are read through the method registry; methods know nothing of recipes (no cycle). */
    @Test void methodsKnowNoRecipe() {
        noClasses().that().resideInAnyPackage("dev.squish.calibration..", "dev.squish.methods..")
                .should().dependOnClassesThat().resideInAPackage("dev.squish.recipe..").check(product);
    }

    /** Training comes after the methods: a recipe stage may fine-tune, a method never reaches into the training loop. */
    @Test void methodsKnowNoTraining() {
        noClasses().that().resideInAnyPackage("dev.squish.calibration..", "dev.squish.methods..")
                .should().dependOnClassesThat().resideInAPackage("dev.squish.train..").check(product);
    }

    @Test void trainingKnowsNoRecipeEvaluationExportOrCli() {
        noClasses().that().resideInAPackage("dev.squish.train..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.squish.recipe..", "dev.squish.eval..", "dev.squish.export..",
                        "dev.squish.bench..", "dev.squish.cli..", "dev.squish.report..").check(product);
    }

    @Test void onlyTheCommandLineUsesTheBenchmarks() {
        noClasses().that().resideOutsideOfPackages("dev.squish.bench..", "dev.squish.cli..")
                .should().dependOnClassesThat().resideInAPackage("dev.squish.bench..").check(product);
    }

    /** Spark is an option of the commands: only the command line starts it, and it reaches no command, report or benchmark. */
    @Test void onlyTheCommandLineUsesSpark() {
        noClasses().that().resideOutsideOfPackages("dev.squish.spark..", "dev.squish.cli..")
                .should().dependOnClassesThat().resideInAPackage("dev.squish.spark..").check(product);
        noClasses().that().resideInAPackage("dev.squish.spark..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.squish.cli..", "dev.squish.report..", "dev.squish.bench..").check(product);
    }

    /** Every squish package except the allowed ones (sub-packages included). */
    private static String[] upstreamOf(String... allowed) {
        var all = java.util.List.of("formats", "util", "weights", "model", "calibration", "methods", "train", "recipe", "eval", "export", "spark", "bench", "report", "cli");
        var allowedSet = java.util.Set.of(allowed);
        return all.stream().filter(p -> !allowedSet.contains(p)).map(p -> "dev.squish." + p + "..").toArray(String[]::new);
    }
}
